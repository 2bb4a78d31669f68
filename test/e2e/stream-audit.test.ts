import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startHub, type Hub } from '../../hub/build-hub.js';
import { loadHubConfig } from '../../hub/config.js';
import { createLogger } from '../../hub/logging.js';

interface AuditEntry {
  outcome: string;
  action: string;
  cluster?: string;
  path?: string;
  principalKind?: string;
  reason?: string;
}

/**
 * Refusals made on an open stream socket (RBAC per subscription) reach the
 * same audit log as REST refusals, through the whole hub as `npm start`
 * runs it.
 */
describe('stream refusals in the audit log (embedded store)', () => {
  let hub: Hub;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aiops-stream-audit-'));
    const config = loadHubConfig({
      AIOPS_DATA_DIR: join(dir, 'hub'),
      AIOPS_HTTP_ADDRESS: '127.0.0.1:0',
      AIOPS_GRPC_ADDRESS: '127.0.0.1:0',
      AIOPS_LOG_LEVEL: 'silent',
    });
    hub = await startHub(config, createLogger({ level: 'silent' }));
  }, 120_000);

  afterAll(async () => {
    await hub?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = async (method: string, path: string, body?: unknown): Promise<Response> =>
    fetch(`${hub.httpUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${hub.adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('records a subscription refused by RBAC, naming the cluster in the reason and never the key', async () => {
    const created = await call('POST', '/api/v1/api-keys?cluster=east', {
      name: 'east-viewer',
      role: 'viewer',
      clusters: ['east'],
      expiresInDays: 1,
    });
    expect(created.status).toBe(201);
    const { key } = (await created.json()) as { key: string };

    const ws = new WebSocket(`${hub.httpUrl.replace(/^http/, 'ws')}/api/v1/stream`, {
      headers: { authorization: `Bearer ${key}` },
    });
    const replies: { type: string; id?: string; code?: string }[] = [];
    ws.on('message', (data) => replies.push(JSON.parse(data.toString()) as (typeof replies)[number]));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ type: 'subscribe', id: 'w', stream: 'samples', selector: { cluster: 'west' } }));
    ws.send(JSON.stringify({ type: 'subscribe', id: 'e', stream: 'samples', selector: { cluster: 'east' } }));
    for (let i = 0; i < 100 && replies.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    ws.close();
    expect(replies).toContainEqual(expect.objectContaining({ type: 'error', id: 'w', code: 'forbidden' }));
    expect(replies).toContainEqual(expect.objectContaining({ type: 'ack', id: 'e' }));

    // The audit log is written in the background.
    let entries: AuditEntry[] = [];
    for (let i = 0; i < 100 && entries.length === 0; i++) {
      const res = (await (await call('GET', '/api/v1/audit?outcome=forbidden')).json()) as {
        entries: AuditEntry[];
      };
      entries = res.entries.filter((e) => e.path === '/api/v1/stream');
      if (entries.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      outcome: 'forbidden',
      action: 'watch telemetry',
      principalKind: 'api-key',
      reason: expect.stringContaining('cluster west'),
    });
    // The refused cluster is named in the reason only: an entry is filed
    // under a cluster only when access to it was granted.
    expect(entries[0]!.cluster).toBeUndefined();
    expect(JSON.stringify(entries)).not.toContain(key);
  });
});
