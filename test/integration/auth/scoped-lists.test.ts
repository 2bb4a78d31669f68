import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../../hub/api/app.js';
import { buildAuth, type HubAuth } from '../../../hub/auth/build-auth.js';
import { authMigrations } from '../../../hub/auth/migrations.js';
import { openStore } from '../../../hub/store/index.js';
import type { EventRecord, InventoryRecord, SeriesIdentity, Store } from '../../../hub/store/store.js';
import { describeWithComponent, pgMissing, pgUrl } from '../../support/components.js';
import { createTestDatabase } from '../../support/databases.js';

/**
 * "Lists filtered to what the caller may see", through the API on real
 * PostgreSQL: data, agents, credentials and audit entries in two clusters,
 * callers bound to one of them. A list without ?cluster= answers only the
 * caller's clusters (filtered in the store query, so pages stay full and
 * cursors exact); a named cluster out of scope, or a caller with no scope
 * at all, gets 403.
 */
const silent = pino({ level: 'silent' });
const EAST = 'east-sl';
const WEST = 'west-sl';

let store: Store;
let auth: HubAuth;
let app: FastifyInstance;
const keys: Record<'adminAll' | 'adminEast' | 'viewerEast' | 'viewerNowhere', string> = {
  adminAll: '',
  adminEast: '',
  viewerEast: '',
  viewerNowhere: '',
};
const sequence = new Map<string, number>();
/** Routes that declare config.scopedList, as registered. */
const scopedRoutes: string[] = [];
const baseMs = Date.now() - 600_000;

async function write(
  cluster: string,
  parts: {
    samples?: { identity: Omit<SeriesIdentity, 'cluster'>; value: number }[];
    events?: Omit<EventRecord, 'cluster'>[];
    inventory?: Omit<InventoryRecord, 'cluster'>[];
  },
): Promise<void> {
  const agentId = `agent-${cluster}`;
  const seq = (sequence.get(agentId) ?? 0) + 1;
  sequence.set(agentId, seq);
  const samples = parts.samples ?? [];
  const ids = await store.resolveSeries(samples.map((s) => ({ ...s.identity, cluster })));
  const appender = store.appender();
  appender.add({
    agentId,
    sequence: seq,
    seriesIds: ids,
    timestampsMs: samples.map(() => Date.now() - 1000),
    values: samples.map((s) => s.value),
    events: (parts.events ?? []).map((e) => ({ ...e, cluster })),
    inventory: (parts.inventory ?? []).map((i) => ({ ...i, cluster })),
  });
  expect(await appender.commit()).toEqual(['stored']);
}

function event(node: string, timestampMs: number, message: string): Omit<EventRecord, 'cluster'> {
  return {
    node,
    timestampMs,
    kind: 'gpu_xid',
    severity: 'error',
    source: 'gpu',
    entity: `GPU-${node}`,
    message,
    attributes: { xid: '79' },
  };
}

async function get(
  path: string,
  key: string,
): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  const res = await app.inject({ method: 'GET', url: path, headers: { authorization: `Bearer ${key}` } });
  return { status: res.statusCode, body: res.json<Record<string, unknown>>(), text: res.body };
}

/** Follows nextCursor from `path` to the end, returning every item of `field` and each page's size. */
async function pageThrough<T>(
  path: string,
  field: string,
  key: string,
  between?: () => Promise<void>,
): Promise<{ items: T[]; sizes: number[] }> {
  const items: T[] = [];
  const sizes: number[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < 500; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const res = await get(cursor === null ? path : `${path}${sep}cursor=${encodeURIComponent(cursor)}`, key);
    expect(res.status, res.text).toBe(200);
    const page = res.body[field] as T[];
    items.push(...page);
    sizes.push(page.length);
    cursor = res.body.nextCursor as string | null;
    if (cursor === null) return { items, sizes };
    await between?.();
  }
  throw new Error(`${path}: no end after 500 pages`);
}

interface Engine {
  open(): Promise<{ store: Store; close(): Promise<void> }>;
}

function scopedListSuite(engine: Engine): void {
  let closeEngine: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    sequence.clear();
    scopedRoutes.length = 0;
    const opened = await engine.open();
    store = opened.store;
    closeEngine = opened.close;
    auth = buildAuth(
      {
        bootstrapAdmins: { users: [], groups: [] },
        apiKeyMaxLifetimeDays: 1,
        corsOrigins: [],
        rateLimitPerMinute: 100_000,
        tls: false,
      },
      { sql: store.sql, enrollmentTokens: store.enrollmentTokens, logger: silent },
    );
    app = await buildApi({
      store,
      authenticator: auth.authenticator,
      authorizer: auth.authorizer,
      logger: silent,
      beforeRoutes: async (root) => {
        root.addHook('onRoute', (route) => {
          if ((route.config as { scopedList?: boolean } | undefined)?.scopedList === true)
            scopedRoutes.push(`${String(route.method)} ${route.url}`);
        });
      },
      extensions: [auth.routes],
    });
    await app.ready();

    const key = async (name: string, role: 'viewer' | 'admin', clusters: string[] | null) =>
      (await auth.apiKeys.create({ name, role, clusters, expiresInMs: 3_600_000 }, 'scoped-lists')).key;
    keys.adminAll = await key('admin-all', 'admin', null);
    keys.adminEast = await key('admin-east', 'admin', [EAST]);
    keys.viewerEast = await key('viewer-east', 'viewer', [EAST]);
    keys.viewerNowhere = await key('viewer-nowhere', 'viewer', ['nowhere']);
    // A key that can act on west only: an east admin must not see it.
    await key(`viewer-${WEST}`, 'viewer', [WEST]);

    // The same fleet shape in both clusters: 6 GPUs (with samples), a PTP
    // clock, a VF, an agent, events, an enrollment token and a binding.
    for (const cluster of [EAST, WEST]) {
      const gpus = Array.from({ length: 6 }, (_, i) => `GPU-${cluster}-${i}`);
      await write(cluster, {
        samples: gpus.map((entity, i) => ({
          identity: {
            node: `${cluster}-node-${i % 2}`,
            source: 'gpu',
            entity,
            metric: 'gpu_temperature_celsius',
            labels: { gpu: String(i) },
            kind: 'gauge',
          },
          value: 50 + i,
        })),
        events: gpus.map((entity, i) =>
          event(`${cluster}-node-${i % 2}`, baseMs + i * 1000, `xid on ${entity}`),
        ),
        inventory: [
          ...gpus.map((entity, i) => ({
            node: `${cluster}-node-${i % 2}`,
            observedMs: baseMs,
            source: 'gpu',
            entity,
            kind: 'gpu',
            attributes: { model: 'NVIDIA H100', index: String(i) },
            absent: false,
            absentReason: '',
          })),
          {
            node: `${cluster}-node-0`,
            observedMs: baseMs,
            source: 'ptp',
            entity: `${cluster}.clock`,
            kind: 'ptp_clock',
            attributes: {},
            absent: false,
            absentReason: '',
          },
          {
            node: `${cluster}-node-0`,
            observedMs: baseMs,
            source: 'sriov',
            entity: `0000:${cluster.length}:02.0`,
            kind: 'nic_vf',
            attributes: { pf: `${cluster}-pf` },
            absent: false,
            absentReason: '',
          },
        ],
      });
      await store.agents.recordHello({
        agentId: `agent-${cluster}`,
        cluster,
        node: `${cluster}-node-0`,
        version: 'test',
        capabilities: ['gpu'],
        // An old Hello: /fleet/nodes must still see the node's recent health samples.
        lastSeenMs: baseMs,
      });
      await store.enrollmentTokens.create(cluster, `${cluster} agents`);
      await auth.bindings.create(
        { subjectKind: 'user', subject: `ops@${cluster}`, role: 'viewer', cluster },
        'scoped-lists',
      );
      auth.audit.record({ timeMs: Date.now(), outcome: 'success', action: 'create rbac', cluster });
    }
    await auth.audit.flush();
  }, 180_000);

  afterAll(async () => {
    await app?.close();
    await auth?.close();
    await closeEngine?.();
  });

  /** Every list route, the field holding its items and whether the viewer role may read it. */
  const lists = [
    { path: '/api/v1/series', field: 'series', viewer: true },
    { path: '/api/v1/latest', field: 'values', viewer: true },
    { path: '/api/v1/query_range?step=1m', field: 'series', viewer: true },
    { path: '/api/v1/events', field: 'events', viewer: true },
    { path: '/api/v1/inventory', field: 'inventory', viewer: true },
    { path: '/api/v1/agents', field: 'agents', viewer: true },
    { path: '/api/v1/fleet/gpus', field: 'gpus', viewer: true },
    { path: '/api/v1/fleet/ptp', field: 'ptp', viewer: true },
    { path: '/api/v1/fleet/sriov', field: 'devices', viewer: true },
    { path: '/api/v1/fleet/nodes', field: 'nodes', viewer: true },
    { path: '/api/v1/rbac/bindings', field: 'bindings', viewer: false },
    { path: '/api/v1/api-keys', field: 'apiKeys', viewer: false },
    { path: '/api/v1/enrollment-tokens', field: 'enrollmentTokens', viewer: false },
    { path: '/api/v1/audit', field: 'entries', viewer: false },
  ];

  it('covers every route that declares a scoped list', () => {
    const covered = lists.map((l) => `GET ${l.path.split('?')[0]}`).sort();
    expect(scopedRoutes.filter((r) => !r.startsWith('HEAD')).sort()).toEqual(covered);
  });

  it('without ?cluster= a caller bound to one cluster gets that cluster’s items only, an all-clusters caller both', async () => {
    for (const list of lists) {
      const scopedKey = list.viewer ? keys.viewerEast : keys.adminEast;
      const scoped = await get(list.path, scopedKey);
      expect(scoped.status, `${list.path}: ${scoped.text}`).toBe(200);
      const items = scoped.body[list.field] as unknown[];
      expect(items.length, `${list.path} returns the caller's items`).toBeGreaterThan(0);
      expect(scoped.text, `${list.path} leaks the other cluster`).not.toContain(WEST);
      expect(scoped.text).toContain(EAST);

      const all = await get(list.path, keys.adminAll);
      expect(all.status, `${list.path}: ${all.text}`).toBe(200);
      expect(all.text, `${list.path} for an all-clusters admin`).toContain(WEST);
      expect(all.text).toContain(EAST);
    }
  });

  it('shows a cluster admin the API keys that can act on its cluster, and not those of another', async () => {
    type Key = { name: string; clusters: string[] | null };
    const names = (body: Record<string, unknown>) => (body.apiKeys as Key[]).map((k) => k.name).sort();
    const east = await get('/api/v1/api-keys', keys.adminEast);
    expect(east.status, east.text).toBe(200);
    // East-scoped keys and all-clusters keys reach east; the west key does not.
    expect(names(east.body)).toEqual(['admin-all', 'admin-east', 'viewer-east']);
    const all = await get('/api/v1/api-keys', keys.adminAll);
    expect(names(all.body)).toEqual(
      ['admin-all', 'admin-east', 'viewer-east', `viewer-${WEST}`, 'viewer-nowhere'].sort(),
    );
    expect((await get(`/api/v1/api-keys?cluster=${WEST}`, keys.adminEast)).status).toBe(403);
  });

  it('a named cluster out of scope is 403; in scope it answers that cluster', async () => {
    for (const list of lists) {
      const key = list.viewer ? keys.viewerEast : keys.adminEast;
      const sep = list.path.includes('?') ? '&' : '?';
      const west = await get(`${list.path}${sep}cluster=${WEST}`, key);
      expect(west.status, list.path).toBe(403);
      expect(west.body).toMatchObject({ code: 'forbidden' });
      const east = await get(`${list.path}${sep}cluster=${EAST}`, key);
      expect(east.status, `${list.path}: ${east.text}`).toBe(200);
      expect(east.text).not.toContain(WEST);
    }
  });

  it('a caller with no grant for the list on any cluster gets 403; one bound to an empty cluster an empty list', async () => {
    const audit = await get('/api/v1/audit', keys.viewerEast);
    expect(audit.status).toBe(403);
    expect(audit.body.detail).toContain('on any cluster');
    const nowhere = await get('/api/v1/fleet/gpus', keys.viewerNowhere);
    expect(nowhere.status).toBe(200);
    expect(nowhere.body.gpus).toEqual([]);
    // Not a list: creating an all-clusters binding still needs all-clusters scope.
    const bind = await app.inject({
      method: 'POST',
      url: '/api/v1/rbac/bindings',
      headers: { authorization: `Bearer ${keys.adminEast}` },
      payload: { subjectKind: 'user', subject: 'someone', role: 'viewer' },
    });
    expect(bind.statusCode).toBe(403);
  });

  it('filters in the store query: every page is full, and the cursor walks exactly the caller’s items', async () => {
    for (const [path, field, expected] of [
      ['/api/v1/series?limit=2', 'series', 6],
      ['/api/v1/events?limit=2', 'events', 6],
      ['/api/v1/fleet/gpus?limit=2', 'gpus', 6],
    ] as const) {
      const { items, sizes } = await pageThrough<Record<string, unknown>>(path, field, keys.viewerEast);
      expect(items.map((i) => i.cluster ?? (i as { series?: { cluster: string } }).series?.cluster)).toEqual(
        Array(expected).fill(EAST),
      );
      // Filtering after paging would leave short or empty pages where west rows were cut out.
      expect(sizes, path).toEqual([2, 2, 2]);
    }
  });

  it('pages through every event exactly once, newest first, while new events arrive', async () => {
    // Many events sharing a millisecond: the order must break ties (by insertion).
    const burst = Array.from({ length: 40 }, (_, i) =>
      event(`${WEST}-node-0`, baseMs + 100_000 + (i % 5), `burst ${i}`),
    );
    await write(WEST, { events: burst });
    const before = (await pageThrough<EventRecord>('/api/v1/events?limit=1000', 'events', keys.adminAll))
      .items;
    let arrivals = 0;
    const { items } = await pageThrough<EventRecord>(
      '/api/v1/events?limit=7',
      'events',
      keys.adminAll,
      async () => {
        // New events both newer than anything (before the first page) and older than the cursor.
        arrivals++;
        await write(EAST, {
          events: [
            event(`${EAST}-node-1`, Date.now(), `late arrival ${arrivals}`),
            event(`${EAST}-node-1`, baseMs - 3_600_000 - arrivals, `backfill ${arrivals}`),
          ],
        });
      },
    );
    expect(arrivals).toBeGreaterThan(3);
    const key = (e: EventRecord) => `${e.cluster}|${e.timestampMs}|${e.message}`;
    const seen = items.map(key);
    expect(new Set(seen).size, 'no duplicates').toBe(seen.length);
    for (const e of before) expect(seen, 'no gaps').toContain(key(e));
    // Newest first throughout, and the backfilled (older) events were reached at the end.
    for (let i = 1; i < items.length; i++)
      expect(items[i]!.timestampMs).toBeLessThanOrEqual(items[i - 1]!.timestampMs);
    expect(seen.filter((s) => s.includes('backfill')).length).toBe(arrivals);
  });

  it('pages oldest first (order=asc) and reaches events stored while paging', async () => {
    const before = (await pageThrough<EventRecord>('/api/v1/events?limit=1000', 'events', keys.adminAll))
      .items;
    let arrivals = 0;
    const { items } = await pageThrough<EventRecord>(
      '/api/v1/events?order=asc&limit=9',
      'events',
      keys.adminAll,
      async () => {
        if (arrivals >= 5) return;
        arrivals++;
        await write(WEST, { events: [event(`${WEST}-node-1`, Date.now() + 60_000, `tail ${arrivals}`)] });
      },
    );
    const seen = items.map((e) => `${e.cluster}|${e.timestampMs}|${e.message}`);
    expect(new Set(seen).size).toBe(seen.length);
    expect(items.length).toBe(before.length + arrivals);
    for (let i = 1; i < items.length; i++)
      expect(items[i]!.timestampMs).toBeGreaterThanOrEqual(items[i - 1]!.timestampMs);
  });

  it('pages through every series exactly once while new series are created', async () => {
    const before = (await pageThrough<{ id: number }>('/api/v1/series?limit=10000', 'series', keys.adminAll))
      .items;
    let created = 0;
    const { items } = await pageThrough<{ id: number }>(
      '/api/v1/series?limit=3',
      'series',
      keys.adminAll,
      async () => {
        created++;
        await store.resolveSeries([
          {
            cluster: WEST,
            node: `${WEST}-node-9`,
            source: 'host',
            entity: '',
            metric: `host_new_${created}`,
            labels: {},
            kind: 'gauge',
          },
        ]);
      },
    );
    const ids = items.map((s) => s.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const s of before) expect(ids).toContain(s.id);
    // New series get higher ids, so they are read on later pages, each once.
    expect(ids.length).toBe(before.length + created);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  });

  it('reports a node as last seen at its newest health sample when its Hello is older, and absent sources', async () => {
    await write(EAST, {
      samples: [
        {
          identity: {
            node: `${EAST}-node-0`,
            source: 'agent',
            entity: '',
            metric: 'agent_collector_up',
            labels: { collector: 'gpu' },
            kind: 'gauge',
          },
          value: 1,
        },
      ],
      // The collector ran (up) but found no GPU tooling: the node says so.
      inventory: [
        {
          node: `${EAST}-node-0`,
          observedMs: Date.now(),
          source: 'gpu',
          entity: 'gpu',
          kind: 'collector',
          attributes: {},
          absent: true,
          absentReason: 'nvidia-smi not executable',
        },
      ],
    });
    const nodes = (await get('/api/v1/fleet/nodes', keys.adminAll)).body.nodes as {
      cluster: string;
      lastSeenMs: number;
      collectorsUp: Record<string, boolean>;
      collectorsAbsent: Record<string, string>;
    }[];
    const east = nodes.find((n) => n.cluster === EAST);
    const west = nodes.find((n) => n.cluster === WEST);
    expect(east).toMatchObject({
      collectorsUp: { gpu: true },
      collectorsAbsent: { gpu: 'nvidia-smi not executable' },
    });
    expect(west?.collectorsAbsent).toEqual({});
    expect(east!.lastSeenMs).toBeGreaterThan(Date.now() - 60_000);
    expect(west!.lastSeenMs).toBe(baseMs);
  });

  it('pages the audit log to a null cursor, within the caller’s scope', async () => {
    const all = await pageThrough<{ cluster?: string }>('/api/v1/audit?limit=1', 'entries', keys.adminAll);
    expect(all.items.map((e) => e.cluster).sort()).toEqual([EAST, WEST].sort());
    expect(all.sizes).toEqual([1, 1]);
    const own = await pageThrough<{ cluster?: string }>('/api/v1/audit?limit=1', 'entries', keys.adminEast);
    expect(own.items.map((e) => e.cluster)).toEqual([EAST]);
  });

  it('pages agents and fleet nodes by cursor, within the caller’s scope', async () => {
    for (const cluster of [EAST, WEST]) {
      for (let i = 0; i < 4; i++) {
        await store.agents.recordHello({
          agentId: `extra-${cluster}-${i}`,
          cluster,
          node: `${cluster}-node-${i}`,
          version: 'test',
          capabilities: [],
          lastSeenMs: baseMs,
        });
      }
    }
    for (const [path, field] of [
      ['/api/v1/agents?limit=2', 'agents'],
      ['/api/v1/fleet/nodes?limit=2', 'nodes'],
    ] as const) {
      const { items, sizes } = await pageThrough<{ cluster: string; agentId: string }>(
        path,
        field,
        keys.viewerEast,
      );
      expect(
        items.every((a) => a.cluster === EAST),
        path,
      ).toBe(true);
      expect(new Set(items.map((a) => a.agentId)).size).toBe(5);
      expect(sizes, path).toEqual([2, 2, 1]);
    }
  });

  it('refuses a forged, foreign or mismatched cursor with 400 problem+json', async () => {
    const events = await get('/api/v1/events?limit=1', keys.adminAll);
    const eventCursor = events.body.nextCursor as string;
    const series = await get('/api/v1/series?limit=1', keys.adminAll);
    const seriesCursor = series.body.nextCursor as string;
    const cursorOf = async (path: string) => {
      const res = await get(path, keys.adminAll);
      expect(res.body.nextCursor, path).toEqual(expect.any(String));
      return res.body.nextCursor as string;
    };
    const gpuCursor = await cursorOf('/api/v1/fleet/gpus?limit=1');
    const nodesCursor = await cursorOf('/api/v1/fleet/nodes?limit=1');
    const agentsCursor = await cursorOf('/api/v1/agents?limit=1');
    const auditCursor = await cursorOf('/api/v1/audit?limit=1');
    const forged = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    // The untagged key arrays these lists once returned: a hand-made position.
    const handMade = forged([EAST, `${EAST}-node-0`, `GPU-${EAST}-0`]);
    for (const path of [
      // Fleet views, /agents and /audit: garbage, hand-made, and cursors of another list.
      `/api/v1/fleet/gpus?cursor=${handMade}`,
      '/api/v1/fleet/gpus?cursor=bogus',
      `/api/v1/fleet/ptp?cursor=${gpuCursor}`,
      `/api/v1/fleet/sriov?cursor=${gpuCursor}`,
      `/api/v1/fleet/nodes?cursor=${agentsCursor}`,
      `/api/v1/fleet/gpus?cursor=${eventCursor}`,
      `/api/v1/agents?cursor=${nodesCursor}`,
      `/api/v1/agents?cursor=${handMade}`,
      `/api/v1/audit?cursor=${gpuCursor}`,
      '/api/v1/audit?cursor=12',
      `/api/v1/events?cursor=${auditCursor}`,
      '/api/v1/events?cursor=bogus',
      `/api/v1/events?cursor=${seriesCursor}`,
      `/api/v1/series?cursor=${eventCursor}`,
      `/api/v1/events?order=asc&cursor=${eventCursor}`,
      `/api/v1/events?cursor=${Buffer.from(JSON.stringify({ v: 1, list: 'events', order: 'desc', timeUs: "1'; drop", id: '1' })).toString('base64url')}`,
    ]) {
      const res = await app.inject({
        method: 'GET',
        url: path,
        headers: { authorization: `Bearer ${keys.adminAll}` },
      });
      expect(res.statusCode, `${path}: ${res.body}`).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json()).toMatchObject({ status: 400, detail: expect.stringContaining('cursor') });
    }
    // Each list's own cursor still walks on.
    for (const [path, cursor] of [
      ['/api/v1/fleet/gpus', gpuCursor],
      ['/api/v1/fleet/nodes', nodesCursor],
      ['/api/v1/agents', agentsCursor],
      ['/api/v1/audit', auditCursor],
    ] as const) {
      const res = await get(`${path}?limit=1&cursor=${cursor}`, keys.adminAll);
      expect(res.status, `${path}: ${res.text}`).toBe(200);
    }
  });
}

describeWithComponent(
  'PostgreSQL',
  pgMissing,
  'lists filtered to the caller’s cluster scope (PostgreSQL)',
  () =>
    scopedListSuite({
      async open() {
        const db = await createTestDatabase(pgUrl as string, 'aiops_scoped');
        const store = await openStore(
          { databaseUrl: db.url, dataDir: '', retentionDays: 30, extraMigrations: authMigrations },
          silent,
        );
        return {
          store,
          close: async () => {
            await store.close();
            await db.drop();
          },
        };
      },
    }),
);

// The embedded default engine (`npm start`), which runs the same SQL on PGlite.
describe('lists filtered to the caller’s cluster scope (embedded PGlite)', () =>
  scopedListSuite({
    async open() {
      const dataDir = mkdtempSync(join(tmpdir(), 'aiops-scoped-'));
      const store = await openStore(
        { dataDir, retentionDays: 30, extraMigrations: authMigrations, embeddedInline: true },
        silent,
      );
      return {
        store,
        close: async () => {
          await store.close();
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    },
  }));
