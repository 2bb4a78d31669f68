import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../../hub/api/app.js';
import { RevocationWatcher } from '../../../hub/auth/agents/revocation-watcher.js';
import { buildAuth, type HubAuth } from '../../../hub/auth/build-auth.js';
import { authMigrations } from '../../../hub/auth/migrations.js';
import { TestIngestClient } from '../../../hub/codec/test-client.js';
import { createIngestServer, type IngestServer } from '../../../hub/ingest/server.js';
import { openStore } from '../../../hub/store/index.js';
import type { Store } from '../../../hub/store/store.js';

/**
 * Enrollment tokens end to end: an admin creates one through the API, agents
 * stream with it to two ingest replicas sharing one store, and revoking it
 * through the API closes both streams — at once on the replica that served
 * the API call, within the watcher's poll period on the other.
 */
const silent = pino({ level: 'silent' });
const ADMIN = 'agent-revocation-admin-token-4c1f0a9e7d3b5a2c8e6f';
const POLL_MS = 500;

let dataDir: string;
let store: Store;
let auth: HubAuth;
let api: FastifyInstance;
let replicaA: IngestServer;
let replicaB: IngestServer;
let watcherB: RevocationWatcher;
const clients: TestIngestClient[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'aiops-auth-agents-'));
  store = await openStore(
    { dataDir, retentionDays: 30, extraMigrations: authMigrations, embeddedInline: true },
    silent,
  );
  replicaA = createIngestServer({ store, logger: silent, registry: new Registry() });
  replicaB = createIngestServer({ store, logger: silent, registry: new Registry() });
  auth = buildAuth(
    {
      adminToken: ADMIN,
      bootstrapAdmins: { users: [], groups: [] },
      apiKeyMaxLifetimeDays: 1,
      corsOrigins: [],
      rateLimitPerMinute: 1000,
      tls: false,
    },
    {
      sql: store.sql,
      enrollmentTokens: store.enrollmentTokens,
      logger: silent,
      onEnrollmentTokenRevoked: (id) => replicaA.revokeToken(id),
    },
  );
  watcherB = new RevocationWatcher({
    tokens: store.enrollmentTokens,
    onRevoked: (ids) => ids.forEach((id) => replicaB.revokeToken(id)),
    intervalMs: POLL_MS,
    logger: silent,
  });
  api = await buildApi({
    store,
    authenticator: auth.authenticator,
    authorizer: auth.authorizer,
    logger: silent,
    extensions: [auth.routes],
  });
  await api.ready();
}, 180_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await watcherB?.stop();
  await replicaA?.stop({ timeoutMs: 2000 });
  await replicaB?.stop({ timeoutMs: 2000 });
  await api?.close();
  await auth?.close();
  await store?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe('enrollment token revocation', () => {
  it('closes the streams of a revoked token on every replica within the poll period', async () => {
    const created = await api.inject({
      method: 'POST',
      url: '/api/v1/clusters/east/enrollment-tokens',
      headers: { authorization: `Bearer ${ADMIN}` },
      payload: { description: 'east DaemonSet' },
    });
    expect(created.statusCode).toBe(201);
    const { token, enrollmentToken } = created.json<{ token: string; enrollmentToken: { id: string } }>();

    const clientA = new TestIngestClient(`127.0.0.1:${await replicaA.start('127.0.0.1:0')}`);
    const clientB = new TestIngestClient(`127.0.0.1:${await replicaB.start('127.0.0.1:0')}`);
    clients.push(clientA, clientB);
    watcherB.start();
    await watcherB.poll();

    const streamA = clientA.stream(token);
    streamA.hello({ agentId: 'east-node-1', cluster: 'east', node: 'node-1' });
    expect((await streamA.next()).msg?.$case).toBe('welcome');
    const streamB = clientB.stream(token);
    streamB.hello({ agentId: 'east-node-2', cluster: 'east', node: 'node-2' });
    expect((await streamB.next()).msg?.$case).toBe('welcome');

    const t0 = Date.now();
    const revoked = await api.inject({
      method: 'DELETE',
      url: `/api/v1/clusters/east/enrollment-tokens/${enrollmentToken.id}`,
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(revoked.statusCode).toBe(204);
    const [endA, endB] = await Promise.all([
      streamA.finished().then((err) => ({ err, ms: Date.now() - t0 })),
      streamB.finished().then((err) => ({ err, ms: Date.now() - t0 })),
    ]);
    expect(endA.err?.code).toBe(status.UNAUTHENTICATED);
    expect(endB.err?.code).toBe(status.UNAUTHENTICATED);
    expect(endA.ms).toBeLessThan(1_000);
    expect(endB.ms).toBeLessThan(POLL_MS * 2 + 1_000);

    const again = clientB.stream(token);
    again.hello({ agentId: 'east-node-2', cluster: 'east', node: 'node-2' });
    expect((await again.finished())?.code).toBe(status.UNAUTHENTICATED);
  });
});
