import type { RangeQuery } from '../store.js';
import type { Dialect } from './dialect.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

/** Which relation a range query reads. */
export type RangeSource = 'samples' | 'samples_1m' | 'samples_1h';

export interface RangeStatement {
  readonly text: string;
  /** Parameters from $2 on; $1 is the int4[] of series ids. */
  readonly params: unknown[];
  readonly source: RangeSource;
}

/**
 * Bucket semantics, identical on every engine: buckets start at multiples of
 * stepMs since the Unix epoch; the query returns every non-empty bucket from
 * the one containing startMs to the one containing endMs, each aggregating
 * all samples inside it. Because 1-minute and 1-hour aggregate buckets are
 * epoch-aligned too, a step that is a whole number of minutes (hours) reads
 * the 1m (1h) continuous aggregate and gives the same answer as the raw table.
 */
export function rangeSql(dialect: Dialect, q: RangeQuery): RangeStatement {
  const first = Math.floor(q.startMs / q.stepMs) * q.stepMs;
  const endExclusive = Math.floor(q.endMs / q.stepMs) * q.stepMs + q.stepMs;
  const params = [`${q.stepMs} milliseconds`, first, endExclusive];
  const from = "timestamptz 'epoch' + $3::float8 * INTERVAL '1 millisecond'";
  const to = "timestamptz 'epoch' + $4::float8 * INTERVAL '1 millisecond'";
  const source = pickSource(dialect, q.stepMs);
  if (source === 'samples') {
    const bucket =
      dialect === 'timescaledb'
        ? "time_bucket($2::interval, ts, timestamptz 'epoch')"
        : "date_bin($2::interval, ts, timestamptz 'epoch')";
    const agg = {
      avg: 'avg(value)',
      min: 'min(value)',
      max: 'max(value)',
      last: dialect === 'timescaledb' ? 'last(value, ts)' : '(array_agg(value ORDER BY ts DESC))[1]',
    }[q.aggregation];
    return {
      source,
      params,
      text: `SELECT series_id, ${bucket} AS b, ${agg} AS v FROM samples
             WHERE series_id = ANY($1::int4[]) AND ts >= ${from} AND ts < ${to}
             GROUP BY series_id, b ORDER BY series_id, b`,
    };
  }
  const agg = {
    avg: 'sum(sum) / sum(n)::float8',
    min: 'min(min)',
    max: 'max(max)',
    last: 'last(last, bucket)',
  }[q.aggregation];
  return {
    source,
    params,
    text: `SELECT series_id, time_bucket($2::interval, bucket, timestamptz 'epoch') AS b, ${agg} AS v FROM ${source}
           WHERE series_id = ANY($1::int4[]) AND bucket >= ${from} AND bucket < ${to}
           GROUP BY series_id, b ORDER BY series_id, b`,
  };
}

/** The coarsest continuous aggregate whose buckets tile the step exactly (TimescaleDB only). */
export function pickSource(dialect: Dialect, stepMs: number): RangeSource {
  if (dialect !== 'timescaledb') return 'samples';
  if (stepMs % HOUR_MS === 0) return 'samples_1h';
  if (stepMs % MINUTE_MS === 0) return 'samples_1m';
  return 'samples';
}
