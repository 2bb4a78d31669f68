import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../../hub/build-hub.js';
import { loadHubConfig } from '../../hub/config.js';
import { createLogger } from '../../hub/logging.js';

/**
 * The whole hub as `npm start` runs it (embedded PGlite, gRPC ingest, REST
 * API), driven from outside: a third-party style gRPC client loaded from the
 * .proto at run time pushes a batch, and the REST API serves it back.
 */
describe('hub end to end (embedded store)', () => {
  let hub: Hub;
  let dir: string;
  let enrollment: string;
  let pushClient: grpc.Client & Record<string, (...args: unknown[]) => unknown>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aiops-hub-e2e-'));
    const config = loadHubConfig({
      AIOPS_DATA_DIR: join(dir, 'hub'),
      AIOPS_HTTP_ADDRESS: '127.0.0.1:0',
      AIOPS_GRPC_ADDRESS: '127.0.0.1:0',
      AIOPS_LOG_LEVEL: 'silent',
    });
    hub = await startHub(config, createLogger({ level: 'silent' }));
    enrollment = (await hub.store.enrollmentTokens.create('e2e', 'test')).token;

    const definition = protoLoader.loadSync(join(import.meta.dirname, '../../proto/aiops/v1/ingest.proto'), {
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: true,
    });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      aiops: { v1: { IngestService: grpc.ServiceClientConstructor } };
    };
    pushClient = new pkg.aiops.v1.IngestService(
      hub.grpcAddress,
      grpc.credentials.createInsecure(),
    ) as unknown as typeof pushClient;
  }, 120_000);

  afterAll(async () => {
    pushClient?.close();
    await hub?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** GET with the admin token, or with `auth.token` (none when it is undefined). */
  const api = (path: string, auth: { token?: string } = { token: hub.adminToken }): Promise<Response> =>
    fetch(`${hub.httpUrl}${path}`, { headers: auth.token ? { authorization: `Bearer ${auth.token}` } : {} });

  const push = (token: string, request: unknown): Promise<{ acked_sequence: number; duplicate: boolean }> =>
    new Promise((resolve, reject) => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${token}`);
      (pushClient.Push as (r: unknown, m: grpc.Metadata, cb: (e: Error | null, r: never) => void) => void)(
        request,
        md,
        (err, res) => (err ? reject(err) : resolve(res)),
      );
    });

  const now = Date.now();
  const batch = (sequence: number) => ({
    hello: {
      agent_id: 'third-party-1',
      cluster: 'e2e',
      node: 'node-a',
      version: 'tp/1',
      capabilities: ['gpu'],
    },
    batch: {
      sequence,
      series: [
        {
          ref: 1,
          metric: 'gpu_temperature_celsius',
          source: 'gpu',
          entity: 'GPU-abc',
          labels: [{ name: 'gpu', value: '0' }],
          type: 'METRIC_TYPE_GAUGE',
        },
      ],
      samples: [{ ref: 1, timestamps_ms: [now - 2000, now - 1000], values: [61, 63.5] }],
      events: [
        {
          timestamp_ms: now - 1500,
          kind: 'gpu_xid',
          severity: 'SEVERITY_ERROR',
          source: 'gpu',
          entity: 'GPU-abc',
          message: 'Xid 79',
          attributes: [{ name: 'xid', value: '79' }],
        },
      ],
    },
  });

  it('stores a pushed batch and serves it through the API', async () => {
    const res = await push(enrollment, batch(1));
    expect(res.acked_sequence).toBe(1);
    expect(res.duplicate).toBe(false);

    const latest = (await (
      await api('/api/v1/latest?cluster=e2e&metric=gpu_temperature_celsius')
    ).json()) as {
      values: { value: number; series: { entity: string; labels: Record<string, string> } }[];
    };
    expect(latest.values).toHaveLength(1);
    expect(latest.values[0]).toMatchObject({
      value: 63.5,
      series: { entity: 'GPU-abc', labels: { gpu: '0' } },
    });

    const events = (await (await api('/api/v1/events?cluster=e2e&kind=gpu_xid')).json()) as {
      events: { message: string; severity: string }[];
    };
    expect(events.events).toEqual([expect.objectContaining({ message: 'Xid 79', severity: 'error' })]);
  });

  it('stores nothing twice when the same sequence is pushed again', async () => {
    const res = await push(enrollment, batch(1));
    expect(res.duplicate).toBe(true);
    const range = (await (
      await api(
        `/api/v1/query_range?cluster=e2e&metric=gpu_temperature_celsius&start=${now - 60_000}&end=${now}&step=1s&agg=avg`,
      )
    ).json()) as { series: { points: unknown[] }[] };
    expect(range.series[0]!.points).toHaveLength(2);
  });

  it('stores nothing for a wrong token', async () => {
    await expect(
      push('aiops_et_wrong', { ...batch(2), hello: { ...batch(2).hello, agent_id: 'intruder' } }),
    ).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
    const agents = (await (await api('/api/v1/agents?cluster=e2e')).json()) as {
      agents: { agentId: string }[];
    };
    expect(agents.agents.map((a) => a.agentId)).not.toContain('intruder');
  });

  it('answers no API data route without a valid credential, with problem+json', async () => {
    const openapi = (await (await api('/api/v1/openapi.json', {})).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const dataPaths = Object.keys(openapi.paths).filter((p) => p.startsWith('/api/v1/') && !p.includes('{'));
    expect(dataPaths.length).toBeGreaterThanOrEqual(6);
    for (const path of dataPaths) {
      if (!openapi.paths[path]!.get) continue;
      for (const token of [undefined, 'not-the-token']) {
        const res = await api(path, { token });
        expect(res.status, `${path} with ${token ?? 'no token'}`).toBe(401);
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(((await res.json()) as { code: string }).code).toBe('unauthenticated');
      }
    }
  });

  it('rejects bad query parameters with a problem+json body naming the problem', async () => {
    const res = await api('/api/v1/query_range?cluster=e2e&step=soon');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      code: 'invalid_input',
      detail: expect.stringContaining('step'),
    });
    const bad = await api('/api/v1/series?cluster=e2e&match=%7Bbroken');
    expect(bad.status).toBe(400);
    const unknown = await api('/api/v1/nope');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/problem\+json/);
  });

  it('serves health, readiness and an OpenAPI 3.1 document without credentials', async () => {
    expect((await api('/healthz', {})).status).toBe(200);
    expect(await (await api('/readyz', {})).json()).toEqual({ status: 'ready', store: 'pglite' });
    const doc = (await (await api('/api/v1/openapi.json', {})).json()) as { openapi: string };
    expect(doc.openapi).toBe('3.1.0');
  });
});
