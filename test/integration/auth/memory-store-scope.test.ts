import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../../hub/api/app.js';
import { buildAuth, type HubAuth } from '../../../hub/auth/build-auth.js';
import { MemoryStore } from '../../../hub/ingest/testing/memory-store.js';
import { pgliteEngine, type TestDatabase } from './support/databases.js';

/**
 * The in-memory store that API tests may be built on answers the cluster
 * scope like the real one: the fleet and telemetry routes over it, for a
 * caller bound to `east`, return east's rows only (a store that ignored the
 * filter would hand west's rows to the route, and the leak would show here).
 * Auth runs on a real embedded database; the telemetry lives in MemoryStore.
 */
const silent = pino({ level: 'silent' });
let db: TestDatabase;
let store: MemoryStore;
let auth: HubAuth;
let app: FastifyInstance;
const keys = { east: '', all: '' };

beforeAll(async () => {
  db = await pgliteEngine.open();
  store = new MemoryStore();
  auth = buildAuth(
    {
      bootstrapAdmins: { users: [], groups: [] },
      apiKeyMaxLifetimeDays: 1,
      corsOrigins: [],
      rateLimitPerMinute: 100_000,
      tls: false,
    },
    { sql: db.sql, enrollmentTokens: store.enrollmentTokens, logger: silent },
  );
  app = await buildApi({
    store,
    authenticator: auth.authenticator,
    authorizer: auth.authorizer,
    logger: silent,
    extensions: [auth.routes],
  });
  await app.ready();
  keys.east = (
    await auth.apiKeys.create({ name: 'east', role: 'viewer', clusters: ['east'], expiresInMs: 600_000 }, 't')
  ).key;
  keys.all = (
    await auth.apiKeys.create({ name: 'all', role: 'viewer', clusters: null, expiresInMs: 600_000 }, 't')
  ).key;

  // The same shape in both clusters, through the store's ingest path.
  let sequence = 0;
  for (const cluster of ['east', 'west']) {
    const node = `${cluster}-node`;
    const entity = `GPU-${cluster}`;
    const [id] = await store.resolveSeries([
      { cluster, node, source: 'gpu', entity, metric: 'gpu_temperature_celsius', labels: {}, kind: 'gauge' },
    ]);
    const appender = store.appender();
    appender.add({
      agentId: `agent-${cluster}`,
      sequence: ++sequence,
      seriesIds: [id as number],
      timestampsMs: [Date.now() - 1000],
      values: [60],
      events: [
        {
          cluster,
          node,
          timestampMs: Date.now() - 1000,
          kind: 'gpu_xid',
          severity: 'error',
          source: 'gpu',
          entity,
          message: `xid on ${entity}`,
          attributes: { xid: '79' },
        },
      ],
      inventory: [
        {
          cluster,
          node,
          observedMs: Date.now() - 1000,
          source: 'gpu',
          entity,
          kind: 'gpu',
          attributes: { model: 'NVIDIA H100' },
          absent: false,
          absentReason: '',
        },
      ],
    });
    expect(await appender.commit()).toEqual(['stored']);
    await store.agents.recordHello({
      agentId: `agent-${cluster}`,
      cluster,
      node,
      version: 'test',
      capabilities: ['gpu'],
      lastSeenMs: Date.now(),
    });
  }
});

afterAll(async () => {
  await app?.close();
  await auth?.close();
  await db?.close();
});

describe('MemoryStore applies the cluster scope of API queries', () => {
  const lists = [
    ['/api/v1/inventory', 'inventory'],
    ['/api/v1/latest', 'values'],
    ['/api/v1/agents', 'agents'],
    ['/api/v1/fleet/gpus?xid_within=1h', 'gpus'],
    ['/api/v1/fleet/nodes', 'nodes'],
  ] as const;

  it('answers a caller bound to east with east rows only, an all-clusters caller with both', async () => {
    for (const [path, field] of lists) {
      const get = (key: string) =>
        app.inject({ method: 'GET', url: path, headers: { authorization: `Bearer ${key}` } });
      const east = await get(keys.east);
      expect(east.statusCode, `${path}: ${east.body}`).toBe(200);
      expect((east.json<Record<string, unknown[]>>()[field] ?? []).length, path).toBeGreaterThan(0);
      expect(east.body, `${path} leaks west`).not.toContain('west');
      const all = await get(keys.all);
      expect(all.body, path).toContain('west');
      expect(all.body, path).toContain('east');
    }
    // The Xid of east's GPU is counted from east's events only.
    const gpus = await app.inject({
      method: 'GET',
      url: '/api/v1/fleet/gpus',
      headers: { authorization: `Bearer ${keys.east}` },
    });
    expect(gpus.json<{ gpus: { uuid: string; xidCount: number }[] }>().gpus).toEqual([
      expect.objectContaining({ uuid: 'GPU-east', xidCount: 1 }),
    ]);
  });

  it('matches nothing for an empty cluster list, one cluster for `cluster`', async () => {
    expect(await store.events({ clusters: [] })).toEqual([]);
    expect(await store.inventory({ clusters: [] })).toEqual([]);
    expect(await store.latest({ clusters: [] })).toEqual([]);
    expect(await store.agents.list([])).toEqual([]);
    expect((await store.events({ cluster: 'west' })).map((e) => e.cluster)).toEqual(['west']);
    expect((await store.inventory({ cluster: 'west' })).map((i) => i.cluster)).toEqual(['west']);
    expect((await store.latest({ clusters: ['west'] })).map((v) => v.series.cluster)).toEqual(['west']);
    expect((await store.events({})).map((e) => e.cluster).sort()).toEqual(['east', 'west']);
  });
});
