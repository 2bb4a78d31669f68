import type { Logger } from 'pino';
import type pg from 'pg';
import { InputError } from '../../errors.js';
import type {
  Aggregation,
  Appender,
  EventPage,
  EventPageRequest,
  EventQuery,
  EventRecord,
  InventoryQuery,
  InventoryRecord,
  LatestValue,
  RangeQuery,
  RangeSeries,
  SeriesIdentity,
  SeriesSelector,
  Severity,
  Store,
  StoreInfo,
  StoredSeries,
} from '../store.js';
import { PgAgentRegistry } from './agent-registry.js';
import { PgAppender, SEVERITY_RANK } from './appender.js';
import type { Dialect, SampleWriteMode } from './dialect.js';
import { PgEnrollmentTokens } from './enrollment-tokens.js';
import { mapPgError } from './pg-errors.js';
import type { SampleColumns } from './pgcopy.js';
import { rangeSql } from './range-sql.js';
import { deleteExpired, type RetentionResult } from './retention.js';
import { copySamplesRaw } from './sample-writer.js';
import { selectorSql } from './selector-sql.js';
import { SeriesCache, identityKey } from './series-cache.js';
import { PoolSqlClient } from './sql-client.js';

export interface PgStoreOptions {
  readonly pool: pg.Pool;
  readonly info: StoreInfo;
  readonly dialect: Dialect;
  readonly writeMode: SampleWriteMode;
  readonly logger: Logger;
  /** Bound of the identity -> id cache (default 200,000 entries). */
  readonly seriesCacheEntries?: number;
  /** Default and maximum series a selector query returns (default 10,000). */
  readonly maxSeries?: number;
  /** Most buckets one range query may produce per series (default 11,000, as Prometheus). */
  readonly maxPointsPerSeries?: number;
  /** Called by close() after the pool ends (stops the PGlite server, the retention job). */
  readonly onClose?: () => Promise<void>;
}

interface SeriesRow {
  id: number;
  cluster: string;
  node: string;
  source: string;
  entity: string;
  metric: string;
  labels: Record<string, string>;
  kind: 'gauge' | 'counter';
}

const SEVERITIES: readonly Severity[] = ['info', 'warning', 'error', 'critical'];

interface EventRow {
  cluster: string;
  node: string;
  ts: Date;
  kind: string;
  severity: number;
  source: string;
  entity: string;
  message: string;
  attributes: Record<string, string>;
}

const EVENT_COLUMNS = 'cluster, node, ts, kind, severity, source, entity, message, attributes';

function toEvent(e: EventRow): EventRecord {
  return {
    cluster: e.cluster,
    node: e.node,
    timestampMs: e.ts.getTime(),
    kind: e.kind,
    severity: SEVERITIES[e.severity] as Severity,
    source: e.source,
    entity: e.entity,
    message: e.message,
    attributes: e.attributes,
  };
}

/** WHERE conditions of an event query (shared by the plain and the paged read). */
function eventConditions(q: EventQuery): { conds: string[]; params: unknown[] } {
  const conds: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown): string => `$${params.push(v)}`;
  for (const f of ['cluster', 'node', 'source', 'entity', 'kind'] as const) {
    const v = q[f];
    if (v !== undefined && v !== '') conds.push(`${f} = ${p(v)}`);
  }
  // Empty stays a condition that matches nothing (see SeriesSelector.clusters).
  if (q.clusters !== undefined) conds.push(`cluster = ANY(${p([...q.clusters])}::text[])`);
  if (q.minSeverity !== undefined) {
    if (!(q.minSeverity in SEVERITY_RANK))
      throw new InputError(`invalid severity ${JSON.stringify(q.minSeverity)}`);
    conds.push(`severity >= ${p(SEVERITY_RANK[q.minSeverity])}`);
  }
  if (q.startMs !== undefined)
    conds.push(`ts >= timestamptz 'epoch' + ${p(q.startMs)}::float8 * INTERVAL '1 millisecond'`);
  if (q.endMs !== undefined)
    conds.push(`ts < timestamptz 'epoch' + ${p(q.endMs)}::float8 * INTERVAL '1 millisecond'`);
  return { conds, params };
}

const SERIES_COLUMNS = 's.id, s.cluster, s.node, s.source, s.entity, s.metric, s.labels, s.kind';

function toSeries(r: SeriesRow): StoredSeries {
  return {
    id: r.id,
    cluster: r.cluster,
    node: r.node,
    source: r.source,
    entity: r.entity,
    metric: r.metric,
    labels: r.labels,
    kind: r.kind,
  };
}

/** The Store over a pg pool; the same code serves TimescaleDB, PostgreSQL and PGlite. */
export class PgStore implements Store {
  readonly info: StoreInfo;
  readonly enrollmentTokens: PgEnrollmentTokens;
  readonly agents: PgAgentRegistry;
  readonly sql: PoolSqlClient;
  private readonly pool: pg.Pool;
  private readonly cache: SeriesCache;
  private readonly maxSeries: number;
  private readonly maxPoints: number;
  private closed: Promise<void> | undefined;

  constructor(private readonly options: PgStoreOptions) {
    this.pool = options.pool;
    this.info = options.info;
    this.enrollmentTokens = new PgEnrollmentTokens(this.pool);
    this.agents = new PgAgentRegistry(this.pool);
    this.sql = new PoolSqlClient(this.pool);
    this.cache = new SeriesCache(options.seriesCacheEntries ?? 200_000);
    this.maxSeries = options.maxSeries ?? 10_000;
    this.maxPoints = options.maxPointsPerSeries ?? 11_000;
  }

  get dialect(): Dialect {
    return this.options.dialect;
  }

  async resolveSeries(identities: readonly SeriesIdentity[]): Promise<number[]> {
    const keys = identities.map((id) => {
      validateIdentity(id);
      return identityKey(id);
    });
    const out = keys.map((k) => this.cache.get(k) ?? 0);
    const missing = new Map<string, SeriesIdentity>();
    keys.forEach((k, i) => {
      if (out[i] === 0) missing.set(k, identities[i] as SeriesIdentity);
    });
    if (missing.size > 0) {
      // Sorted so concurrent resolvers (other replicas) insert into the
      // unique index in the same order; ON CONFLICT DO NOTHING then read back
      // makes creation idempotent whoever wins.
      const entries = [...missing.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const cols = [
        entries.map(([, s]) => s.cluster),
        entries.map(([, s]) => s.node),
        entries.map(([, s]) => s.source),
        entries.map(([, s]) => s.entity),
        entries.map(([, s]) => s.metric),
        entries.map(([, s]) => JSON.stringify(s.labels)),
        entries.map(([, s]) => s.kind),
      ];
      const unnest =
        'unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::text[]) WITH ORDINALITY AS u(c, n, src, e, m, l, k, ord)';
      try {
        await this.pool.query(
          `INSERT INTO series (cluster, node, source, entity, metric, labels, kind)
           SELECT c, n, src, e, m, l, k FROM ${unnest} ORDER BY ord ON CONFLICT ON CONSTRAINT series_identity DO NOTHING`,
          cols,
        );
        const r = await this.pool.query<{ id: number; ord: string }>(
          `SELECT s.id, u.ord FROM ${unnest} JOIN series s ON s.cluster = u.c AND s.node = u.n AND s.source = u.src
             AND s.entity = u.e AND s.metric = u.m AND s.labels = u.l AND s.kind = u.k`,
          cols,
        );
        for (const row of r.rows)
          this.cache.set((entries[Number(row.ord) - 1] as [string, SeriesIdentity])[0], row.id);
      } catch (err) {
        throw mapPgError(err, 'resolve series');
      }
      keys.forEach((k, i) => {
        if (out[i] === 0) out[i] = this.cache.get(k) ?? 0;
      });
      if (out.includes(0)) throw new InputError('some series could not be resolved');
    }
    return out;
  }

  async lastSequence(agentId: string): Promise<number> {
    const r = await this.pool.query<{ s: string }>(
      'SELECT last_sequence AS s FROM agents WHERE agent_id = $1',
      [agentId],
    );
    return r.rows[0] ? Number(r.rows[0].s) : 0;
  }

  /**
   * Benchmark baseline (not part of Store): writes rows straight into the
   * samples table with this store's pool and write mode, as bench:ingest's
   * "raw COPY" reference.
   */
  async writeSamplesRaw(parts: readonly SampleColumns[]): Promise<number> {
    return copySamplesRaw(this.pool, parts, this.options.writeMode);
  }

  /** One retention pass now (the periodic job calls the same function). */
  async deleteExpired(cutoffMs: number): Promise<RetentionResult> {
    return deleteExpired(this.pool, this.options.dialect, cutoffMs);
  }

  appender(): Appender {
    return new PgAppender(this.pool, this.options.writeMode);
  }

  async findSeries(selector: SeriesSelector, limit?: number): Promise<StoredSeries[]> {
    const max = this.seriesLimit(limit);
    const f = selectorSql(selector);
    try {
      const r = await this.pool.query<SeriesRow>(
        `SELECT ${SERIES_COLUMNS} FROM series s WHERE ${f.where} ORDER BY s.id LIMIT ${max}`,
        f.params,
      );
      return r.rows.map(toSeries);
    } catch (err) {
      throw mapPgError(err, 'find series');
    }
  }

  async queryRange(q: RangeQuery): Promise<RangeSeries[]> {
    validateRange(q, this.maxPoints);
    const series = await this.findSeries(q.selector, q.limitSeries);
    if (series.length === 0) return [];
    const stmt = rangeSql(this.options.dialect, q);
    const r = await this.pool
      .query<{ series_id: number; b: Date; v: number }>(stmt.text, [series.map((s) => s.id), ...stmt.params])
      .catch((err: unknown) => {
        throw mapPgError(err, 'range query');
      });
    const points = new Map<number, { timestampMs: number; value: number }[]>();
    for (const row of r.rows) {
      let list = points.get(row.series_id);
      if (!list) points.set(row.series_id, (list = []));
      list.push({ timestampMs: row.b.getTime(), value: row.v });
    }
    return series.filter((s) => points.has(s.id)).map((s) => ({ series: s, points: points.get(s.id) ?? [] }));
  }

  async latest(selector: SeriesSelector, limit?: number): Promise<LatestValue[]> {
    const series = await this.findSeries(selector, limit);
    if (series.length === 0) return [];
    // One backward scan of the (series_id, ts) index per series: no extra
    // table to maintain at ingest rate (see docs/storage.md).
    const r = await this.pool
      .query<{ id: number; ts: Date; value: number }>(
        `SELECT u.id, l.ts, l.value FROM unnest($1::int4[]) AS u(id)
         CROSS JOIN LATERAL (SELECT ts, value FROM samples WHERE series_id = u.id ORDER BY ts DESC LIMIT 1) l`,
        [series.map((s) => s.id)],
      )
      .catch((err: unknown) => {
        throw mapPgError(err, 'latest');
      });
    const byId = new Map(r.rows.map((row) => [row.id, row]));
    return series.flatMap((s) => {
      const row = byId.get(s.id);
      return row ? [{ series: s, timestampMs: row.ts.getTime(), value: row.value }] : [];
    });
  }

  async events(q: EventQuery): Promise<EventRecord[]> {
    const { conds, params } = eventConditions(q);
    const limit = Math.min(Math.max(Math.trunc(q.limit ?? 1000), 1), 10_000);
    const r = await this.pool
      .query<EventRow>(
        `SELECT ${EVENT_COLUMNS} FROM events
         ${conds.length ? 'WHERE ' + conds.join(' AND ') : ''} ORDER BY ts DESC, id DESC LIMIT ${limit}`,
        params,
      )
      .catch((err: unknown) => {
        throw mapPgError(err, 'events');
      });
    return r.rows.map(toEvent);
  }

  async eventPage(q: EventQuery, page: EventPageRequest): Promise<EventPage> {
    const order = page.order ?? 'desc';
    if (order !== 'asc' && order !== 'desc') throw new InputError(`invalid order ${JSON.stringify(order)}`);
    if (!Number.isInteger(page.limit) || page.limit < 1 || page.limit > 10_000)
      throw new InputError(`event page limit must be an integer 1..10000, got ${page.limit}`);
    const { conds, params } = eventConditions(q);
    if (page.after !== undefined) {
      if (!/^-?\d{1,20}$/.test(page.after.timeUs) || !/^\d{1,19}$/.test(page.after.id))
        throw new InputError('event position must be decimal microseconds and a row id');
      // Row comparison on (ts, id): the keyset of the ORDER BY below, so the
      // next page starts exactly after the last row returned.
      params.push(page.after.timeUs, page.after.id);
      const at = `(timestamptz 'epoch' + $${params.length - 1}::int8 * INTERVAL '1 microsecond', $${params.length}::int8)`;
      conds.push(`(ts, id) ${order === 'desc' ? '<' : '>'} ${at}`);
    }
    const dir = order === 'desc' ? 'DESC' : 'ASC';
    // One row more than asked tells whether another page exists without a count.
    // The id is read as text under another name: ORDER BY id must sort the
    // bigint column, not a text output column of the same name.
    const r = await this.pool
      .query<EventRow & { row_id: string; ts_us: string }>(
        `SELECT ${EVENT_COLUMNS}, id::text AS row_id,
                (extract(epoch FROM ts) * 1000000)::int8::text AS ts_us
           FROM events ${conds.length ? 'WHERE ' + conds.join(' AND ') : ''}
          ORDER BY ts ${dir}, id ${dir} LIMIT ${page.limit + 1}`,
        params,
      )
      .catch((err: unknown) => {
        throw mapPgError(err, 'event page');
      });
    const rows = r.rows.slice(0, page.limit);
    const last = rows[rows.length - 1];
    return {
      events: rows.map(toEvent),
      next: r.rows.length > page.limit && last ? { timeUs: last.ts_us, id: last.row_id } : null,
    };
  }

  async seriesPage(
    selector: SeriesSelector,
    page: { readonly afterId?: number; readonly limit: number },
  ): Promise<{ series: StoredSeries[]; nextAfterId: number | null }> {
    const limit = this.seriesLimit(page.limit);
    if (page.afterId !== undefined && (!Number.isInteger(page.afterId) || page.afterId < 0))
      throw new InputError(`series position must be a non-negative integer, got ${page.afterId}`);
    const f = selectorSql(selector);
    const params = [...f.params];
    const after = page.afterId === undefined ? '' : ` AND s.id > $${params.push(page.afterId)}`;
    try {
      const r = await this.pool.query<SeriesRow>(
        `SELECT ${SERIES_COLUMNS} FROM series s WHERE ${f.where}${after} ORDER BY s.id LIMIT ${limit + 1}`,
        params,
      );
      const series = r.rows.slice(0, limit).map(toSeries);
      const last = series[series.length - 1];
      return { series, nextAfterId: r.rows.length > limit && last ? last.id : null };
    } catch (err) {
      throw mapPgError(err, 'series page');
    }
  }

  async inventory(q: InventoryQuery): Promise<InventoryRecord[]> {
    const conds: string[] = [];
    const params: unknown[] = [];
    for (const f of ['cluster', 'node', 'source', 'kind'] as const) {
      const v = q[f];
      if (v !== undefined && v !== '') conds.push(`${f} = $${params.push(v)}`);
    }
    if (q.clusters !== undefined) conds.push(`cluster = ANY($${params.push([...q.clusters])}::text[])`);
    const r = await this.pool.query<{
      cluster: string;
      node: string;
      source: string;
      entity: string;
      kind: string;
      observed: Date;
      attributes: Record<string, string>;
      absent: boolean;
      absent_reason: string;
    }>(
      `SELECT cluster, node, source, entity, kind, observed, attributes, absent, absent_reason FROM inventory
       ${conds.length ? 'WHERE ' + conds.join(' AND ') : ''} ORDER BY cluster, node, source, entity`,
      params,
    );
    return r.rows.map((i) => ({
      cluster: i.cluster,
      node: i.node,
      observedMs: i.observed.getTime(),
      source: i.source,
      entity: i.entity,
      kind: i.kind,
      attributes: i.attributes,
      absent: i.absent,
      absentReason: i.absent_reason,
    }));
  }

  async ping(): Promise<void> {
    try {
      await this.pool.query('SELECT 1');
    } catch (err) {
      throw mapPgError(err, 'ping');
    }
  }

  /** Safe to call twice; later calls wait for the first. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.pool.end();
      await this.options.onClose?.();
      this.options.logger.info('store closed');
    })();
    return this.closed;
  }

  private seriesLimit(limit: number | undefined): number {
    if (limit === undefined) return this.maxSeries;
    if (!Number.isInteger(limit) || limit < 1)
      throw new InputError(`series limit must be a positive integer, got ${limit}`);
    return Math.min(limit, this.maxSeries);
  }
}

function validateIdentity(id: SeriesIdentity): void {
  if (id.kind !== 'gauge' && id.kind !== 'counter')
    throw new InputError(`invalid series kind ${JSON.stringify(id.kind)}`);
  if (typeof id.metric !== 'string' || id.metric === '') throw new InputError('series has no metric name');
  for (const f of ['cluster', 'node', 'source', 'entity'] as const) {
    if (typeof id[f] !== 'string') throw new InputError(`series ${f} must be a string`);
  }
  for (const [k, v] of Object.entries(id.labels)) {
    if (typeof v !== 'string') throw new InputError(`label ${k} of series ${id.metric} is not a string`);
  }
}

const AGGREGATIONS: readonly Aggregation[] = ['avg', 'min', 'max', 'last'];

function validateRange(q: RangeQuery, maxPoints: number): void {
  if (!AGGREGATIONS.includes(q.aggregation))
    throw new InputError(`invalid aggregation ${JSON.stringify(q.aggregation)}`);
  if (!Number.isInteger(q.stepMs) || q.stepMs < 1)
    throw new InputError(`step must be a positive integer of ms, got ${q.stepMs}`);
  if (!Number.isFinite(q.startMs) || !Number.isFinite(q.endMs) || q.endMs < q.startMs) {
    throw new InputError('range needs finite startMs <= endMs');
  }
  if ((q.endMs - q.startMs) / q.stepMs > maxPoints) {
    throw new InputError(
      `range of ${q.endMs - q.startMs} ms at step ${q.stepMs} ms exceeds ${maxPoints} points per series`,
    );
  }
}
