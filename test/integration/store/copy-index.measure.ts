/**
 * Binary COPY rate into the samples table under different index choices, on
 * the PostgreSQL at AIOPS_TEST_PG_URL (a scratch database, dropped after).
 * Run with
 *   AIOPS_TEST_PG_URL=postgres://... npx tsx test/integration/store/copy-index.measure.ts [rows] [series]
 * Rows go in COPYs of 10,000 (a realistic commit), one connection, in
 * timestamp order per series as agents send them. Results: docs/storage.md.
 */
import pg from 'pg';
import { copySamplesRaw } from '../../../hub/store/postgres/sample-writer.js';
import { createTestDatabase } from './test-databases.js';

const totalRows = Number(process.argv[2] ?? 1_000_000);
const seriesCount = Number(process.argv[3] ?? 10_000);
const BATCH = 10_000;
const url = process.env.AIOPS_TEST_PG_URL;
if (!url) throw new Error('set AIOPS_TEST_PG_URL');

const variants: Record<string, string[]> = {
  'btree(series_id,ts) + brin(ts) [chosen]': [
    'CREATE INDEX ON samples (series_id, ts)',
    'CREATE INDEX ON samples USING brin (ts) WITH (pages_per_range = 32)',
  ],
  'btree(series_id,ts)': ['CREATE INDEX ON samples (series_id, ts)'],
  'btree(ts)': ['CREATE INDEX ON samples (ts)'],
  'brin(ts)': ['CREATE INDEX ON samples USING brin (ts) WITH (pages_per_range = 32)'],
  'no index': [],
};

const db = await createTestDatabase(url);
const pool = new pg.Pool({ connectionString: db.url, max: 1 });
try {
  const t0 = Date.UTC(2026, 0, 1);
  const batches = Array.from({ length: Math.ceil(totalRows / BATCH) }, (_, b) => {
    const seriesIds = new Int32Array(BATCH);
    const timestampsMs = new Float64Array(BATCH);
    const values = new Float64Array(BATCH);
    for (let i = 0; i < BATCH; i++) {
      const k = b * BATCH + i;
      seriesIds[i] = (k % seriesCount) + 1;
      timestampsMs[i] = t0 + Math.floor(k / seriesCount) * 1000;
      values[i] = (k * 13) % 1000;
    }
    return { seriesIds, timestampsMs, values };
  });
  for (const [name, ddl] of Object.entries(variants)) {
    await pool.query('DROP TABLE IF EXISTS samples');
    await pool.query(
      'CREATE TABLE samples (series_id integer NOT NULL, ts timestamptz NOT NULL, value double precision NOT NULL)',
    );
    for (const d of ddl) await pool.query(d);
    const started = performance.now();
    for (const b of batches) await copySamplesRaw(pool, [b]);
    const s = (performance.now() - started) / 1000;
    console.log(
      `index=${JSON.stringify(name)} rows=${batches.length * BATCH} rows_per_s=${Math.round((batches.length * BATCH) / s)}`,
    );
  }
} finally {
  await pool.end();
  await db.drop();
}
