import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { SampleWriteMode } from './dialect.js';
import { countRows, encodeSamplesBinary, type SampleColumns } from './pgcopy.js';

const COPY_SQL = 'COPY samples (series_id, ts, value) FROM STDIN (FORMAT binary)';
// PGlite cannot take COPY FROM STDIN through pglite-socket (the server loses
// protocol sync), so that engine inserts from three arrays instead: one
// statement per batch, still no per-row round trip.
const UNNEST_SQL =
  "INSERT INTO samples (series_id, ts, value) SELECT s, timestamptz 'epoch' + t * INTERVAL '1 millisecond', v " +
  'FROM unnest($1::int4[], $2::float8[], $3::float8[]) AS u(s, t, v)';

/**
 * Writes sample rows on the given connection (inside the caller's
 * transaction, if any) and returns the number of rows written.
 */
export async function writeSamples(
  client: pg.ClientBase,
  parts: readonly SampleColumns[],
  mode: SampleWriteMode,
): Promise<number> {
  const rows = countRows(parts);
  if (rows === 0) return 0;
  if (mode === 'copy') {
    const stream = client.query(copyFrom(COPY_SQL));
    await pipeline(Readable.from([encodeSamplesBinary(parts)]), stream);
    return rows;
  }
  const ids: number[] = new Array<number>(rows);
  const ts: number[] = new Array<number>(rows);
  const vals: number[] = new Array<number>(rows);
  let k = 0;
  for (const p of parts) {
    for (let i = 0; i < p.seriesIds.length; i++, k++) {
      ids[k] = p.seriesIds[i] as number;
      ts[k] = p.timestampsMs[i] as number;
      vals[k] = p.values[i] as number;
    }
  }
  await client.query(UNNEST_SQL, [ids, ts, vals]);
  return rows;
}

/**
 * Benchmark baseline: one raw write of the given rows into the samples table
 * on one connection of `pool`, with nothing else (no dedup, no series work,
 * no transaction beyond the statement's own). Binary COPY on a server
 * database; pass the store's write mode for PGlite, which cannot COPY FROM
 * STDIN. bench:ingest compares the hub's end-to-end rate with this.
 */
export async function copySamplesRaw(
  pool: pg.Pool,
  parts: readonly SampleColumns[],
  mode: SampleWriteMode = 'copy',
): Promise<number> {
  const client = await pool.connect();
  try {
    return await writeSamples(client, parts, mode);
  } finally {
    client.release();
  }
}
