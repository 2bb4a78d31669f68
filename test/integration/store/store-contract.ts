import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, PermanentError } from '../../../hub/errors.js';
import type { StoreConfig } from '../../../hub/store/open-store.js';
import { PgStore } from '../../../hub/store/postgres/pg-store.js';
import type {
  BatchWrite,
  EventRecord,
  InventoryRecord,
  Migration,
  SeriesIdentity,
  Store,
  StoreInfo,
} from '../../../hub/store/store.js';

/** One engine the contract runs against. */
export interface EngineUnderTest {
  readonly expectedEngine: StoreInfo['engine'];
  /** Two Store instances may share the database at once (not PGlite: one process owns its directory). */
  readonly sharedDatabase: boolean;
  /** Opens a store on this engine's one database; every call reaches the same data. */
  open(extra?: Partial<StoreConfig>): Promise<Store>;
  cleanup(): Promise<void>;
}

export const silentLogger = pino({ level: 'silent' });

/** A module's own table, as auth or audit would contribute it. */
export const EXTRA_MIGRATIONS: Migration[] = [
  {
    id: 'm100_contract_notes',
    sql: 'CREATE TABLE contract_notes (id serial PRIMARY KEY, body text NOT NULL)',
  },
];

const HOUR_MS = 3_600_000;
/** A fixed, hour-aligned instant (2026-01-01T00:00Z) so buckets are predictable. */
const T0 = Date.UTC(2026, 0, 1);

let uniq = 0;
/** Unique names so tests never see each other's rows on the shared store. */
function u(prefix: string): string {
  return `${prefix}-${process.pid}-${++uniq}-${randomBytes(3).toString('hex')}`;
}

function identity(cluster: string, metric: string, labels: Record<string, string> = {}): SeriesIdentity {
  return { cluster, node: 'node-a', source: 'gpu', entity: 'GPU-0', metric, labels, kind: 'gauge' };
}

function batch(
  agentId: string,
  sequence: number,
  rows: [number, number, number][],
  extra: Partial<BatchWrite> = {},
): BatchWrite {
  return {
    agentId,
    sequence,
    seriesIds: rows.map((r) => r[0]),
    timestampsMs: rows.map((r) => r[1]),
    values: rows.map((r) => r[2]),
    events: [],
    inventory: [],
    ...extra,
  };
}

async function countSamples(store: Store, ids: number[]): Promise<number> {
  const r = await store.sql.query<{ n: string }>(
    'SELECT count(*) AS n FROM samples WHERE series_id = ANY($1::int4[])',
    [ids],
  );
  return Number(r.rows[0]?.n);
}

/**
 * The Store contract: every engine must pass all of it. Tests share one store
 * per engine and isolate themselves by unique cluster and agent names.
 */
export function storeContract(name: string, makeEngine: () => Promise<EngineUnderTest>): void {
  describe(`Store contract: ${name}`, () => {
    let engine: EngineUnderTest;
    let store: Store;

    beforeAll(async () => {
      engine = await makeEngine();
      store = await engine.open({ extraMigrations: EXTRA_MIGRATIONS });
    });
    afterAll(async () => {
      await store?.close();
      await engine?.cleanup();
    });

    it('reports the engine it runs on', async () => {
      expect(store.info.engine).toBe(engine.expectedEngine);
      expect(store.info.version).toMatch(/PostgreSQL/);
      await store.ping();
    });

    describe('series', () => {
      it('resolves an identity to one id, whatever the label order, and creates it once', async () => {
        const c = u('c');
        const [a] = await store.resolveSeries([identity(c, 'gpu_temp_celsius', { x: '1', y: '2' })]);
        const [b] = await store.resolveSeries([identity(c, 'gpu_temp_celsius', { y: '2', x: '1' })]);
        expect(a).toBeGreaterThan(0);
        expect(b).toBe(a);
        const r = await store.sql.query<{ n: string }>(
          'SELECT count(*) AS n FROM series WHERE cluster = $1',
          [c],
        );
        expect(Number(r.rows[0]?.n)).toBe(1);
      });

      it('gives concurrent resolvers of overlapping identities the same ids', async () => {
        const c = u('c');
        const ids = Array.from({ length: 50 }, (_, i) => identity(c, 'm', { i: String(i) }));
        const [x, y] = await Promise.all([store.resolveSeries(ids), store.resolveSeries([...ids].reverse())]);
        expect([...(y as number[])].reverse()).toEqual(x);
        expect(new Set(x).size).toBe(50);
      });

      it('resolves thousands of identities in one call and reads them back intact', async () => {
        const c = u('c');
        const many = Array.from({ length: 3000 }, (_, i) =>
          identity(c, 'bulk', { i: String(i), pad: 'x'.repeat(40) }),
        );
        const ids = await store.resolveSeries(many);
        expect(new Set(ids).size).toBe(3000);
        const found = await store.findSeries({ cluster: c, metric: 'bulk' });
        expect(found).toHaveLength(3000);
        const byId = new Map(found.map((s) => [s.id, s.labels.i]));
        expect(ids.every((id, i) => byId.get(id) === String(i))).toBe(true);
      });

      it('distinguishes kind and rejects an invalid identity with InputError', async () => {
        const c = u('c');
        const [g, k] = await store.resolveSeries([
          identity(c, 'm'),
          { ...identity(c, 'm'), kind: 'counter' },
        ]);
        expect(g).not.toBe(k);
        await expect(
          store.resolveSeries([{ ...identity(c, 'm'), kind: 'histogram' as 'gauge' }]),
        ).rejects.toThrow(InputError);
        await expect(store.resolveSeries([{ ...identity(c, ''), metric: '' }])).rejects.toThrow(InputError);
      });

      it('selects series by identity fields and Prometheus-style label matchers', async () => {
        const c = u('c');
        const [s1, s2, s3] = await store.resolveSeries([
          identity(c, 'm', { gpu: '0', mode: 'a' }),
          identity(c, 'm', { gpu: '1', mode: 'ab' }),
          identity(c, 'm', { gpu: '10' }),
        ]);
        const ids = async (matchers: { name: string; op: '=' | '!=' | '=~' | '!~'; value: string }[]) =>
          (await store.findSeries({ cluster: c, metric: 'm', matchers })).map((s) => s.id);
        expect(await ids([])).toEqual([s1, s2, s3]);
        expect(await ids([{ name: 'gpu', op: '=', value: '1' }])).toEqual([s2]);
        expect(await ids([{ name: 'gpu', op: '!=', value: '1' }])).toEqual([s1, s3]);
        // Anchored: "1" must not match "10".
        expect(await ids([{ name: 'gpu', op: '=~', value: '1' }])).toEqual([s2]);
        expect(await ids([{ name: 'gpu', op: '=~', value: '1.*' }])).toEqual([s2, s3]);
        expect(await ids([{ name: 'mode', op: '!~', value: 'a' }])).toEqual([s2, s3]);
        // A missing label equals "".
        expect(await ids([{ name: 'mode', op: '=', value: '' }])).toEqual([s3]);
        expect(await store.findSeries({ cluster: c, node: 'other' })).toEqual([]);
        const [one] = await store.findSeries({
          cluster: c,
          matchers: [{ name: 'gpu', op: '=', value: '0' }],
        });
        expect(one).toEqual({ ...identity(c, 'm', { gpu: '0', mode: 'a' }), id: s1 });
        expect(await store.findSeries({ cluster: c }, 2)).toHaveLength(2);
      });

      it('rejects an invalid regular expression with InputError', async () => {
        await expect(store.findSeries({ matchers: [{ name: 'gpu', op: '=~', value: '(' }] })).rejects.toThrow(
          InputError,
        );
      });
    });

    describe('appender', () => {
      it('stores a batch once and reports a replay in the same appender as duplicate', async () => {
        const c = u('c');
        const agent = u('agent');
        const [s] = await store.resolveSeries([identity(c, 'm')]);
        const app = store.appender();
        app.add(batch(agent, 1, [[s as number, T0, 1]]));
        app.add(batch(agent, 1, [[s as number, T0, 1]]));
        app.add(batch(agent, 2, [[s as number, T0 + 1000, 2]]));
        expect(await app.commit()).toEqual(['stored', 'duplicate', 'stored']);
        expect(await countSamples(store, [s as number])).toBe(2);
        expect(await store.lastSequence(agent)).toBe(2);
      });

      it('drops sequences at or below the stored high-water mark in a later appender', async () => {
        const c = u('c');
        const agent = u('agent');
        const [s] = await store.resolveSeries([identity(c, 'm')]);
        const a1 = store.appender();
        a1.add(batch(agent, 5, [[s as number, T0, 1]]));
        expect(await a1.commit()).toEqual(['stored']);
        const a2 = store.appender();
        a2.add(batch(agent, 4, [[s as number, T0 + 1, 9]]));
        a2.add(batch(agent, 5, [[s as number, T0 + 2, 9]]));
        a2.add(batch(agent, 6, [[s as number, T0 + 3, 3]]));
        expect(await a2.commit()).toEqual(['duplicate', 'duplicate', 'stored']);
        expect(await countSamples(store, [s as number])).toBe(2);
        expect(await store.lastSequence(agent)).toBe(6);
        expect(await store.lastSequence(u('unknown'))).toBe(0);
      });

      it('commits a large batch completely', async () => {
        const c = u('c');
        const agent = u('agent');
        const ids = (await store.resolveSeries(
          Array.from({ length: 100 }, (_, i) => identity(c, 'big', { i: String(i) })),
        )) as number[];
        const rows: [number, number, number][] = Array.from({ length: 50_000 }, (_, k) => [
          ids[k % 100] as number,
          T0 + k,
          k,
        ]);
        const app = store.appender();
        app.add(batch(agent, 1, rows));
        expect(await app.commit()).toEqual(['stored']);
        expect(await countSamples(store, ids)).toBe(50_000);
        const sum = await store.sql.query<{ s: number }>(
          'SELECT sum(value)::float8 AS s FROM samples WHERE series_id = ANY($1::int4[])',
          [ids],
        );
        expect(sum.rows[0]?.s).toBe((49_999 * 50_000) / 2);
      });

      it('writes batches of several agents in one commit', async () => {
        const c = u('c');
        const [s1, s2] = await store.resolveSeries([identity(c, 'a'), identity(c, 'b')]);
        const [a, b] = [u('agent'), u('agent')];
        const app = store.appender();
        app.add(batch(b, 1, [[s2 as number, T0, 2]]));
        app.add(batch(a, 1, [[s1 as number, T0, 1]]));
        app.add(batch(a, 2, [[s1 as number, T0 + 1, 1]]));
        expect(await app.commit()).toEqual(['stored', 'stored', 'stored']);
        expect(await store.lastSequence(a)).toBe(2);
        expect(await store.lastSequence(b)).toBe(1);
      });

      it('is atomic: a batch failing inside the transaction stores nothing of any batch', async () => {
        const c = u('c');
        const agent = u('agent');
        const [s] = await store.resolveSeries([identity(c, 'm')]);
        const app = store.appender();
        app.add(batch(agent, 1, [[s as number, T0, 1]]));
        // NOT NULL violation on events.kind happens after the samples were written.
        const bad = { ...event(c, T0, 'warning'), kind: null as unknown as string };
        app.add(batch(agent, 2, [[s as number, T0 + 1, 2]], { events: [bad] }));
        await expect(app.commit()).rejects.toThrow(PermanentError);
        expect(await countSamples(store, [s as number])).toBe(0);
        expect(await store.lastSequence(agent)).toBe(0);
        expect(await store.events({ cluster: c })).toEqual([]);
        // The store is still usable and the sequence can be delivered again.
        const again = store.appender();
        again.add(batch(agent, 1, [[s as number, T0, 1]]));
        expect(await again.commit()).toEqual(['stored']);
      });

      it('rejects malformed batches with InputError when added, and keeps the others', async () => {
        const c = u('c');
        const agent = u('agent');
        const [s] = await store.resolveSeries([identity(c, 'm')]);
        const app = store.appender();
        expect(() => app.add({ ...batch(agent, 1, [[s as number, T0, 1]]), values: [] })).toThrow(InputError);
        expect(() => app.add(batch(agent, 0, [[s as number, T0, 1]]))).toThrow(InputError);
        expect(() => app.add(batch(agent, 1, [[0, T0, 1]]))).toThrow(InputError);
        expect(() => app.add(batch(agent, 1, [[s as number, Number.NaN, 1]]))).toThrow(InputError);
        expect(() => app.add(batch('', 1, [[s as number, T0, 1]]))).toThrow(InputError);
        app.add(batch(agent, 1, [[s as number, T0, 1]]));
        expect(await app.commit()).toEqual(['stored']);
        expect(await countSamples(store, [s as number])).toBe(1);
      });

      it('stores nothing after rollback and cannot be reused', async () => {
        const c = u('c');
        const agent = u('agent');
        const [s] = await store.resolveSeries([identity(c, 'm')]);
        const app = store.appender();
        app.add(batch(agent, 1, [[s as number, T0, 1]]));
        app.rollback();
        await expect(app.commit()).rejects.toThrow(/already/);
        expect(await countSamples(store, [s as number])).toBe(0);
        expect(await store.lastSequence(agent)).toBe(0);
      });

      it('stores each sequence once when appenders race on the same agent', async () => {
        const c = u('c');
        const agent = u('agent');
        const [s] = await store.resolveSeries([identity(c, 'm')]);
        const run = async (target: Store) => {
          const out: string[] = [];
          for (let seq = 1; seq <= 10; seq++) {
            const app = target.appender();
            app.add(batch(agent, seq, [[s as number, T0 + seq * 1000, seq]]));
            out.push(...(await app.commit()));
          }
          return out;
        };
        const [x, y] = await Promise.all([run(store), run(store)]);
        expect([...x, ...y].filter((o) => o === 'stored')).toHaveLength(10);
        expect(await countSamples(store, [s as number])).toBe(10);
      });
    });

    describe('queries', () => {
      // Two series; values chosen so every aggregation differs per bucket.
      // s1: T0+0s=1, +20s=3, +40s=8, +60s=2, +90s=10 ; s2: T0+10s=5, +70s=7
      let c: string;
      let s1: number;
      let s2: number;
      beforeAll(async () => {
        c = u('c');
        [s1, s2] = (await store.resolveSeries([
          identity(c, 'q', { gpu: '0' }),
          identity(c, 'q', { gpu: '1' }),
        ])) as [number, number];
        const app = store.appender();
        app.add(
          batch(u('agent'), 1, [
            [s1, T0, 1],
            [s1, T0 + 20_000, 3],
            [s1, T0 + 40_000, 8],
            [s2, T0 + 10_000, 5],
            [s1, T0 + 60_000, 2],
            [s2, T0 + 70_000, 7],
            [s1, T0 + 90_000, 10],
          ]),
        );
        await app.commit();
      });

      const range = (
        stepMs: number,
        aggregation: 'avg' | 'min' | 'max' | 'last',
        startMs = T0,
        endMs = T0 + 119_999,
      ) => store.queryRange({ selector: { cluster: c, metric: 'q' }, startMs, endMs, stepMs, aggregation });
      const pts = (r: Awaited<ReturnType<typeof range>>, id: number) =>
        r.find((x) => x.series.id === id)?.points.map((p) => [p.timestampMs - T0, p.value]);

      it('aggregates 1-minute buckets (avg, min, max, last)', async () => {
        expect(pts(await range(60_000, 'avg'), s1)).toEqual([
          [0, 4],
          [60_000, 6],
        ]);
        expect(pts(await range(60_000, 'min'), s1)).toEqual([
          [0, 1],
          [60_000, 2],
        ]);
        expect(pts(await range(60_000, 'max'), s1)).toEqual([
          [0, 8],
          [60_000, 10],
        ]);
        expect(pts(await range(60_000, 'last'), s1)).toEqual([
          [0, 8],
          [60_000, 10],
        ]);
        expect(pts(await range(60_000, 'last'), s2)).toEqual([
          [0, 5],
          [60_000, 7],
        ]);
      });

      it('aggregates sub-minute buckets from the raw samples', async () => {
        expect(pts(await range(30_000, 'avg'), s1)).toEqual([
          [0, 2],
          [30_000, 8],
          [60_000, 2],
          [90_000, 10],
        ]);
      });

      it('aggregates hour buckets (avg weighted by sample count, not by minute)', async () => {
        const r = await range(HOUR_MS, 'avg', T0, T0 + HOUR_MS - 1);
        expect(pts(r, s1)).toEqual([[0, 4.8]]);
        expect(pts(await range(HOUR_MS, 'last', T0, T0 + HOUR_MS - 1), s1)).toEqual([[0, 10]]);
        expect(pts(await range(2 * HOUR_MS, 'max', T0, T0 + HOUR_MS - 1), s1)).toEqual([[0, 10]]);
      });

      it('returns the buckets containing start and end, aligned to the step', async () => {
        // Window 0:50 .. 1:05 at 1 minute covers both whole buckets.
        expect(pts(await range(60_000, 'min', T0 + 50_000, T0 + 65_000), s1)).toEqual([
          [0, 1],
          [60_000, 2],
        ]);
        expect(await range(60_000, 'avg', T0 + 3 * HOUR_MS, T0 + 4 * HOUR_MS)).toEqual([]);
      });

      it('limits series and rejects invalid ranges with InputError', async () => {
        const limited = await store.queryRange({
          selector: { cluster: c },
          startMs: T0,
          endMs: T0 + 60_000,
          stepMs: 60_000,
          aggregation: 'max',
          limitSeries: 1,
        });
        expect(limited).toHaveLength(1);
        await expect(range(0, 'avg')).rejects.toThrow(InputError);
        await expect(range(60_000, 'avg', T0 + 1, T0)).rejects.toThrow(InputError);
        await expect(range(1, 'avg', T0, T0 + HOUR_MS)).rejects.toThrow(/points/);
        await expect(range(60_000, 'median' as 'avg')).rejects.toThrow(InputError);
      });

      it('returns the latest sample of each series that has one', async () => {
        const [empty] = await store.resolveSeries([identity(c, 'q', { gpu: '9' })]);
        const latest = await store.latest({ cluster: c, metric: 'q' });
        expect(latest.map((l) => [l.series.id, l.timestampMs - T0, l.value])).toEqual([
          [s1, 90_000, 10],
          [s2, 70_000, 7],
        ]);
        expect(latest.some((l) => l.series.id === empty)).toBe(false);
      });
    });

    describe('events and inventory', () => {
      it('stores events and filters them by field, severity and time, newest first', async () => {
        const c = u('c');
        const app = store.appender();
        app.add(
          batch(u('agent'), 1, [], {
            events: [
              event(c, T0, 'info'),
              { ...event(c, T0 + 1000, 'critical'), kind: 'gpu_xid', attributes: { xid: '79' } },
              { ...event(c, T0 + 2000, 'warning'), node: 'node-b' },
            ],
          }),
        );
        expect(await app.commit()).toEqual(['stored']);
        const all = await store.events({ cluster: c });
        expect(all.map((e) => e.timestampMs - T0)).toEqual([2000, 1000, 0]);
        expect(all[1]).toEqual({
          ...event(c, T0 + 1000, 'critical'),
          kind: 'gpu_xid',
          attributes: { xid: '79' },
        });
        expect((await store.events({ cluster: c, minSeverity: 'warning' })).map((e) => e.severity)).toEqual([
          'warning',
          'critical',
        ]);
        expect((await store.events({ cluster: c, kind: 'gpu_xid' })).map((e) => e.kind)).toEqual(['gpu_xid']);
        expect((await store.events({ cluster: c, node: 'node-b' })).map((e) => e.node)).toEqual(['node-b']);
        expect(
          (await store.events({ cluster: c, startMs: T0 + 500, endMs: T0 + 2000 })).map(
            (e) => e.timestampMs - T0,
          ),
        ).toEqual([1000]);
        expect(await store.events({ cluster: c, limit: 1 })).toHaveLength(1);
        await expect(store.events({ minSeverity: 'fatal' as 'info' })).rejects.toThrow(InputError);
      });

      it('limits every query to a list of clusters (an RBAC scope); an empty list matches nothing', async () => {
        const [a, b, other] = [u('ca'), u('cb'), u('cother')];
        const agent = u('agent');
        const ids = await store.resolveSeries([a, b, other].map((c) => identity(c, 'gpu_power_draw_watts')));
        const app = store.appender();
        app.add(
          batch(
            agent,
            1,
            ids.map((id) => [id, T0, 1] as [number, number, number]),
            {
              events: [a, b, other].map((c) => event(c, T0, 'info')),
              inventory: [a, b, other].map((c) => inv(c, 'GPU-0', T0, {})),
            },
          ),
        );
        await app.commit();
        for (const c of [a, b, other]) {
          await store.agents.recordHello({
            agentId: `${c}-agent`,
            cluster: c,
            node: 'n',
            version: 'v',
            capabilities: [],
            lastSeenMs: T0,
          });
          await store.enrollmentTokens.create(c, 'scope');
        }
        const sorted = [a, b].sort();
        const clusters = [a, b];
        expect((await store.findSeries({ clusters })).map((x) => x.cluster).sort()).toEqual(sorted);
        expect((await store.latest({ clusters })).map((x) => x.series.cluster).sort()).toEqual(sorted);
        expect((await store.events({ clusters })).map((x) => x.cluster).sort()).toEqual(sorted);
        expect((await store.inventory({ clusters })).map((x) => x.cluster).sort()).toEqual(sorted);
        expect((await store.agents.list(clusters)).map((x) => x.cluster).sort()).toEqual(sorted);
        expect((await store.enrollmentTokens.list(clusters)).map((x) => x.cluster).sort()).toEqual(sorted);
        expect(
          (await store.seriesPage({ clusters }, { limit: 10 })).series.map((x) => x.cluster).sort(),
        ).toEqual(sorted);
        expect(
          (await store.eventPage({ clusters }, { limit: 10 })).events.map((x) => x.cluster).sort(),
        ).toEqual(sorted);
        // Combined with a named cluster, both conditions hold.
        expect(await store.events({ cluster: other, clusters })).toEqual([]);
        expect(await store.findSeries({ clusters: [] })).toEqual([]);
        expect(await store.events({ clusters: [] })).toEqual([]);
        expect(await store.inventory({ clusters: [] })).toEqual([]);
        expect(await store.agents.list([])).toEqual([]);
        expect(await store.enrollmentTokens.list([])).toEqual([]);
      });

      it('pages events by (time, insertion) both ways without repeats or gaps, ties included', async () => {
        const c = u('c');
        const app = store.appender();
        // 25 events over 5 distinct milliseconds: pages must split ties correctly.
        app.add(
          batch(u('agent'), 1, [], {
            events: Array.from({ length: 25 }, (_, i) => ({
              ...event(c, T0 + (i % 5), 'info'),
              message: `e${i}`,
            })),
          }),
        );
        await app.commit();
        for (const order of ['desc', 'asc'] as const) {
          const seen: EventRecord[] = [];
          let after: Awaited<ReturnType<Store['eventPage']>>['next'] | undefined;
          for (let pages = 0; pages < 20; pages++) {
            const page = await store.eventPage(
              { cluster: c },
              { order, limit: 4, after: after ?? undefined },
            );
            seen.push(...page.events);
            if (page.next === null) break;
            after = page.next;
          }
          expect(new Set(seen.map((e) => e.message)).size).toBe(25);
          expect(seen).toHaveLength(25);
          const times = seen.map((e) => e.timestampMs);
          expect(times).toEqual([...times].sort((x, y) => (order === 'asc' ? x - y : y - x)));
        }
        await expect(store.eventPage({ cluster: c }, { limit: 0 })).rejects.toThrow(InputError);
        await expect(
          store.eventPage({ cluster: c }, { limit: 1, after: { timeUs: 'x', id: '1' } }),
        ).rejects.toThrow(InputError);
      });

      it('pages series by id: the last page says there is no next one', async () => {
        const c = u('c');
        const ids = await store.resolveSeries(Array.from({ length: 5 }, (_, i) => identity(c, `m_${i}`)));
        const first = await store.seriesPage({ cluster: c }, { limit: 3 });
        expect(first.series.map((x) => x.id)).toEqual([...ids].sort((x, y) => x - y).slice(0, 3));
        expect(first.nextAfterId).toBe(first.series[2]?.id);
        const second = await store.seriesPage(
          { cluster: c },
          { limit: 3, afterId: first.nextAfterId as number },
        );
        expect(second.series).toHaveLength(2);
        expect(second.nextAfterId).toBeNull();
        const exact = await store.seriesPage({ cluster: c }, { limit: 5 });
        expect(exact.nextAfterId).toBeNull();
      });

      it('keeps the newest inventory fact per entity and filters by cluster, node, source and kind', async () => {
        const c = u('c');
        const agent = u('agent');
        const a1 = store.appender();
        a1.add(
          batch(agent, 1, [], {
            inventory: [
              inv(c, 'GPU-0', T0 + 10, { model: 'H100' }),
              inv(c, 'GPU-0', T0 + 5, { model: 'older' }),
            ],
          }),
        );
        await a1.commit();
        const a2 = store.appender();
        a2.add(
          batch(agent, 2, [], {
            inventory: [
              inv(c, 'GPU-0', T0 + 1, { model: 'stale' }),
              {
                ...inv(c, 'ptp', T0, {}),
                source: 'ptp',
                kind: 'ptp_port',
                absent: true,
                absentReason: 'no ptp4l socket',
              },
            ],
          }),
        );
        await a2.commit();
        const all = await store.inventory({ cluster: c });
        expect(all).toEqual([
          inv(c, 'GPU-0', T0 + 10, { model: 'H100' }),
          {
            ...inv(c, 'ptp', T0, {}),
            source: 'ptp',
            kind: 'ptp_port',
            absent: true,
            absentReason: 'no ptp4l socket',
          },
        ]);
        expect((await store.inventory({ cluster: c, source: 'ptp' })).map((i) => i.entity)).toEqual(['ptp']);
        expect((await store.inventory({ cluster: c, kind: 'gpu' })).map((i) => i.entity)).toEqual(['GPU-0']);
        expect(await store.inventory({ cluster: c, node: 'nope' })).toEqual([]);
      });
    });

    describe('enrollment tokens and agents', () => {
      it('creates, verifies, lists and revokes tokens', async () => {
        const c = u('c');
        const { info, token } = await store.enrollmentTokens.create(c, 'rack 4');
        expect(token).toMatch(/^aiops_et_[A-Za-z0-9_-]{43}$/);
        expect(info).toMatchObject({ cluster: c, description: 'rack 4', revokedMs: null });
        expect(await store.enrollmentTokens.verify(token)).toEqual(info);
        expect(
          await store.enrollmentTokens.verify(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A')),
        ).toBeNull();
        expect(await store.enrollmentTokens.verify('garbage')).toBeNull();
        expect(await store.enrollmentTokens.list(c)).toEqual([info]);
        expect(await store.enrollmentTokens.revoke(info.id)).toBe(true);
        expect(await store.enrollmentTokens.verify(token)).toBeNull();
        expect((await store.enrollmentTokens.list(c))[0]?.revokedMs).toEqual(expect.any(Number));
        expect(await store.enrollmentTokens.revoke('et_missing')).toBe(false);
        await expect(store.enrollmentTokens.create('', 'x')).rejects.toThrow(InputError);
      });

      it('keeps only a hash: the clear token appears in no table', async () => {
        const { token } = await store.enrollmentTokens.create(u('c'), 'secret check');
        const secretPart = token.slice('aiops_et_'.length);
        const tables = await store.sql.query<{ t: string }>(
          "SELECT quote_ident(table_name) AS t FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        );
        expect(tables.rows.length).toBeGreaterThan(5);
        for (const { t } of tables.rows) {
          const dump = await store.sql.query<{ d: string | null }>(
            `SELECT string_agg(x::text, ' ') AS d FROM ${t} x`,
          );
          const text = dump.rows[0]?.d ?? '';
          expect(text.includes(secretPart), `token found in ${t}`).toBe(false);
          expect(text.includes(Buffer.from(token).toString('hex')), `hex token found in ${t}`).toBe(false);
        }
      });

      it('records hellos without moving the sequence high-water mark', async () => {
        const c = u('c');
        const agent = u('agent');
        const [s] = await store.resolveSeries([identity(c, 'm')]);
        const app = store.appender();
        app.add(batch(agent, 3, [[s as number, T0, 1]]));
        await app.commit();
        await store.agents.recordHello({
          agentId: agent,
          cluster: c,
          node: 'n1',
          version: '0.1.0',
          capabilities: ['gpu', 'ptp'],
          lastSeenMs: T0,
        });
        await store.agents.recordHello({
          agentId: agent,
          cluster: c,
          node: 'n1',
          version: '0.2.0',
          capabilities: ['gpu'],
          lastSeenMs: T0 + 5,
        });
        expect(await store.agents.list(c)).toEqual([
          {
            agentId: agent,
            cluster: c,
            node: 'n1',
            version: '0.2.0',
            capabilities: ['gpu'],
            lastSeenMs: T0 + 5,
            lastSequence: 3,
          },
        ]);
        expect(await store.lastSequence(agent)).toBe(3);
      });
    });

    describe('sql client and migrations', () => {
      it('runs extra module migrations and commits or rolls back transactions', async () => {
        await store.sql.query('INSERT INTO contract_notes (body) VALUES ($1)', ['kept']);
        await expect(
          store.sql.transaction(async (tx) => {
            await tx.query('INSERT INTO contract_notes (body) VALUES ($1)', ['lost']);
            throw new Error('boom');
          }),
        ).rejects.toThrow('boom');
        const n = await store.sql.transaction(async (tx) => {
          await tx.query('INSERT INTO contract_notes (body) VALUES ($1)', ['kept too']);
          return (await tx.query<{ n: string }>('SELECT count(*) AS n FROM contract_notes')).rows[0]?.n;
        });
        expect(Number(n)).toBe(2);
        const bodies = await store.sql.query<{ body: string }>('SELECT body FROM contract_notes ORDER BY id');
        expect(bodies.rows.map((r) => r.body)).toEqual(['kept', 'kept too']);
      });

      it('stays usable after failing statements (syntax error, missing table, bad parameter)', async () => {
        await expect(store.sql.query('SELEC 1')).rejects.toThrow();
        await expect(store.sql.query('SELECT * FROM no_such_table WHERE x = $1', [1])).rejects.toThrow();
        await expect(store.sql.query('SELECT $1::int AS n', ['not a number'])).rejects.toThrow();
        for (let i = 0; i < 3; i++) {
          expect((await store.sql.query<{ n: number }>('SELECT $1::int AS n', [i])).rows).toEqual([{ n: i }]);
        }
        await store.ping();
      });

      it('deletes expired events (and samples where the hub owns retention)', async () => {
        const c = u('c');
        const [s] = await store.resolveSeries([identity(c, 'old')]);
        const old = Date.UTC(2001, 0, 1);
        const app = store.appender();
        app.add(batch(u('agent'), 1, [[s as number, old, 1]], { events: [event(c, old, 'info')] }));
        await app.commit();
        if (!(store instanceof PgStore)) throw new Error('contract runs on PgStore');
        const dialect = store.dialect;
        const r = await store.deleteExpired(Date.UTC(2002, 0, 1));
        expect(r.ran).toBe(true);
        expect(r.eventsDeleted).toBeGreaterThanOrEqual(1);
        expect(await store.events({ cluster: c })).toEqual([]);
        if (dialect === 'postgres') expect(await countSamples(store, [s as number])).toBe(0);
      });

      it('re-opening applies nothing twice and keeps the data', async () => {
        const before = await store.sql.query<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id');
        expect(before.rows.map((r) => r.id)).toContain('m100_contract_notes');
        const c = u('c');
        const [s] = await store.resolveSeries([identity(c, 'persist')]);
        if (!engine.sharedDatabase) await store.close();
        const reopened = await Promise.all(
          engine.sharedDatabase
            ? [
                engine.open({ extraMigrations: EXTRA_MIGRATIONS }),
                engine.open({ extraMigrations: EXTRA_MIGRATIONS }),
              ]
            : [engine.open({ extraMigrations: EXTRA_MIGRATIONS })],
        );
        if (!engine.sharedDatabase) store = reopened[0] as Store;
        const other = reopened[0] as Store;
        const after = await other.sql.query<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id');
        expect(after.rows).toEqual(before.rows);
        expect(await other.resolveSeries([identity(c, 'persist')])).toEqual([s]);
        if (engine.sharedDatabase) await Promise.all(reopened.map((r) => r.close()));
      });
    });

    describe('two stores on one database', () => {
      it('stores every sequence once when two hubs commit the same batches in parallel', async (ctx) => {
        if (!engine.sharedDatabase) {
          ctx.skip();
          return;
        }
        const other = await engine.open({ extraMigrations: EXTRA_MIGRATIONS });
        try {
          const c = u('c');
          const agents = [u('agent'), u('agent'), u('agent')];
          const [s] = await store.resolveSeries([identity(c, 'm')]);
          const replay = async (target: Store) => {
            let stored = 0;
            for (let seq = 1; seq <= 15; seq++) {
              const app = target.appender();
              // Different agent order per hub: row locks are taken sorted, so no deadlock.
              for (const a of target === store ? agents : [...agents].reverse()) {
                app.add(batch(a, seq, [[s as number, T0 + seq, seq]]));
              }
              stored += (await app.commit()).filter((o) => o === 'stored').length;
            }
            return stored;
          };
          const [x, y] = await Promise.all([replay(store), replay(other)]);
          expect(x + y).toBe(45);
          expect(await countSamples(store, [s as number])).toBe(45);
          for (const a of agents) expect(await other.lastSequence(a)).toBe(15);
        } finally {
          await other.close();
        }
      });
    });
  });
}

function event(cluster: string, timestampMs: number, severity: EventRecord['severity']): EventRecord {
  return {
    cluster,
    node: 'node-a',
    timestampMs,
    kind: 'thermal',
    severity,
    source: 'gpu',
    entity: 'GPU-0',
    message: 'temperature above slowdown threshold',
    attributes: {},
  };
}

function inv(
  cluster: string,
  entity: string,
  observedMs: number,
  attributes: Record<string, string>,
): InventoryRecord {
  return {
    cluster,
    node: 'node-a',
    observedMs,
    source: 'gpu',
    entity,
    kind: 'gpu',
    attributes,
    absent: false,
    absentReason: '',
  };
}
