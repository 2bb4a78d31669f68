import type { Logger } from 'pino';
import type pg from 'pg';
import type { Dialect } from './dialect.js';

/** Arbitrary constant; only one replica deletes at a time. ("retain" in ASCII.) */
export const RETENTION_LOCK_KEY = 0x72657461696e;
/** Delay of the first pass after start-up. */
const FIRST_PASS_DELAY_MS = 60_000;
/** Rows per DELETE, so one pass never holds a huge transaction. */
const DELETE_CHUNK_ROWS = 50_000;

export interface RetentionResult {
  readonly samplesDeleted: number;
  readonly eventsDeleted: number;
  /** False when another replica held the retention lock. */
  readonly ran: boolean;
}

/**
 * Deletes rows older than cutoffMs. On TimescaleDB the retention policy
 * drops whole sample chunks, so only events are deleted here; on plain
 * PostgreSQL and PGlite the hub deletes samples too, in chunks of
 * DELETE_CHUNK_ROWS found through the BRIN index on ts.
 */
export async function deleteExpired(
  pool: pg.Pool,
  dialect: Dialect,
  cutoffMs: number,
): Promise<RetentionResult> {
  const client = await pool.connect();
  try {
    const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [
      RETENTION_LOCK_KEY,
    ]);
    if (!got.rows[0]?.ok) return { samplesDeleted: 0, eventsDeleted: 0, ran: false };
    try {
      const cutoff = "timestamptz 'epoch' + $1::float8 * INTERVAL '1 millisecond'";
      const chunked = async (table: string): Promise<number> => {
        let total = 0;
        for (;;) {
          const r = await client.query(
            `DELETE FROM ${table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${table} WHERE ts < ${cutoff} LIMIT ${DELETE_CHUNK_ROWS}))`,
            [cutoffMs],
          );
          total += r.rowCount ?? 0;
          if ((r.rowCount ?? 0) < DELETE_CHUNK_ROWS) return total;
        }
      };
      const samplesDeleted = dialect === 'postgres' ? await chunked('samples') : 0;
      const eventsDeleted = await chunked('events');
      return { samplesDeleted, eventsDeleted, ran: true };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [RETENTION_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
}

/**
 * Runs deleteExpired a minute after start-up and then every intervalMs
 * (timers unref'd, passes never overlap).
 * Returns a stop function that waits for a pass in progress.
 */
export function startRetentionJob(
  pool: pg.Pool,
  dialect: Dialect,
  retentionDays: number,
  intervalMs: number,
  logger: Logger,
): () => Promise<void> {
  let running: Promise<void> | undefined;
  const pass = async (): Promise<void> => {
    const started = Date.now();
    try {
      const r = await deleteExpired(pool, dialect, started - retentionDays * 86_400_000);
      if (r.ran) logger.info({ ...r, durationMs: Date.now() - started }, 'retention pass done');
    } catch (err) {
      logger.warn({ err }, 'retention pass failed; will retry next interval');
    }
  };
  const tick = (): void => {
    running ??= pass().finally(() => (running = undefined));
  };
  // First pass soon after start-up (a hub restarted more often than
  // intervalMs must still delete), then every intervalMs.
  const first = setTimeout(tick, Math.min(intervalMs, FIRST_PASS_DELAY_MS));
  const timer = setInterval(tick, intervalMs);
  first.unref();
  timer.unref();
  return async () => {
    clearTimeout(first);
    clearInterval(timer);
    await running;
  };
}
