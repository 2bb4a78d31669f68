import type { Logger } from 'pino';
import pg from 'pg';
import { ConfigError } from '../errors.js';
import { startPgliteServer, type PgliteEndpoint } from './pglite/pglite-server.js';
import type { Dialect, SampleWriteMode } from './postgres/dialect.js';
import { MIGRATION_LOCK_KEY, runMigrations } from './postgres/migrate.js';
import { PgStore } from './postgres/pg-store.js';
import { startRetentionJob } from './postgres/retention.js';
import type { Migration, Store } from './store.js';

export interface StoreConfig {
  /** PostgreSQL URL; absent -> embedded PGlite in dataDir. */
  readonly databaseUrl?: string;
  /** Data directory for the embedded engine (PGlite files live in dataDir/pglite). */
  readonly dataDir: string;
  /** Samples and events older than this are deleted (policy on TimescaleDB, hub job otherwise). */
  readonly retentionDays: number;
  /**
   * Days the TimescaleDB rollups (samples_1m, samples_1h) are kept; they
   * would otherwise grow for ever. Defaults: 90 and 730.
   */
  readonly rollupRetentionDays?: { readonly '1m': number; readonly '1h': number };
  /** Schema of other hub modules, run after the store's own migrations. */
  readonly extraMigrations?: readonly Migration[];
  /** Pool size for a server database (default 8). PGlite always uses 1. */
  readonly maxConnections?: number;
  /** How often the hub's retention job runs (default 1 hour). */
  readonly retentionIntervalMs?: number;
  /** Use TimescaleDB when available (default true); false forces the plain schema on a fresh database. */
  readonly timescale?: boolean;
  /** Test only: embedded engine is the TimescaleDB build of PGlite (devDependency). */
  readonly embeddedTimescale?: boolean;
  /** Test/measurement only: run embedded PGlite on the calling thread instead of a worker. */
  readonly embeddedInline?: boolean;
  /** Bound of the series identity cache (default 200,000). */
  readonly seriesCacheEntries?: number;
}

function validate(config: StoreConfig): void {
  const problems: string[] = [];
  if (!Number.isFinite(config.retentionDays) || config.retentionDays <= 0) {
    problems.push(`retentionDays must be a positive number, got ${config.retentionDays}`);
  }
  const rollup1m = config.rollupRetentionDays?.['1m'];
  if (rollup1m !== undefined && !(rollup1m >= 4)) {
    problems.push(
      `rollupRetentionDays.1m must be at least 4 (the 1-hour rollup re-reads 3 days), got ${rollup1m}`,
    );
  }
  const rollup1h = config.rollupRetentionDays?.['1h'];
  if (rollup1h !== undefined && !(rollup1h > 0)) {
    problems.push(`rollupRetentionDays.1h must be a positive number, got ${rollup1h}`);
  }
  if (!config.databaseUrl && !config.dataDir)
    problems.push('dataDir is required when no database URL is given');
  if (
    config.maxConnections !== undefined &&
    (!Number.isInteger(config.maxConnections) || config.maxConnections < 1)
  ) {
    problems.push(`maxConnections must be a positive integer, got ${config.maxConnections}`);
  }
  if (config.databaseUrl) {
    try {
      const u = new URL(config.databaseUrl);
      if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')
        problems.push('databaseUrl must be a postgres:// URL');
    } catch {
      problems.push('databaseUrl is not a valid URL');
    }
  }
  if (problems.length) throw new ConfigError(problems);
}

/**
 * Opens the store: PostgreSQL (TimescaleDB when the extension can be used,
 * plain otherwise) when a URL is given, else embedded PGlite served over the
 * wire protocol from a worker thread. Runs migrations under an advisory lock,
 * sets retention, and logs which engine it chose.
 */
export async function openStore(config: StoreConfig, logger: Logger): Promise<Store> {
  validate(config);
  // Callers may already have bound the component; do not repeat the key.
  const log = 'component' in logger.bindings() ? logger : logger.child({ component: 'store' });
  let embedded: PgliteEndpoint | undefined;
  let pool: pg.Pool;
  if (config.databaseUrl) {
    pool = new pg.Pool({ connectionString: config.databaseUrl, max: config.maxConnections ?? 8 });
  } else {
    embedded = await startPgliteServer({
      dataDir: config.dataDir,
      mode: config.embeddedInline ? 'inline' : 'worker',
      timescaledb: config.embeddedTimescale ?? false,
      // Queries fail with UnavailableError from then on; say why once.
      onWorkerExit: (detail) =>
        log.error({ err: detail.error, exitCode: detail.exitCode }, 'embedded PGlite worker died'),
    });
    pool = new pg.Pool({
      host: embedded.socketDir,
      port: embedded.port,
      user: 'postgres',
      database: 'postgres',
      max: 1,
    });
  }
  // An idle client's error (server restart) must not crash the process.
  pool.on('error', (err) => log.warn({ err }, 'idle database connection failed'));
  let stopRetention: (() => Promise<void>) | undefined;
  try {
    const client = await pool.connect();
    let dialect: Dialect;
    let version: string;
    try {
      const migrated = await runMigrations(
        client,
        { allowTimescale: config.timescale ?? true, extraMigrations: config.extraMigrations },
        log,
      );
      dialect = migrated.dialect;
      version = (await client.query<{ v: string }>('SELECT version() AS v')).rows[0]?.v ?? 'unknown';
      if (dialect === 'timescaledb') {
        await setTimescaleRetention(client, {
          samples: config.retentionDays,
          samples_1m: config.rollupRetentionDays?.['1m'] ?? DEFAULT_ROLLUP_RETENTION_DAYS['1m'],
          samples_1h: config.rollupRetentionDays?.['1h'] ?? DEFAULT_ROLLUP_RETENTION_DAYS['1h'],
        });
      }
    } finally {
      client.release();
    }
    const engine = dialect === 'timescaledb' ? 'timescaledb' : embedded ? 'pglite' : 'postgres';
    // COPY FROM STDIN does not survive pglite-socket; see sample-writer.ts.
    const writeMode: SampleWriteMode = embedded ? 'unnest' : 'copy';
    stopRetention = startRetentionJob(
      pool,
      dialect,
      config.retentionDays,
      config.retentionIntervalMs ?? 3_600_000,
      log.child({ job: 'retention' }),
    );
    log.info({ engine, dialect, writeMode, version, retentionDays: config.retentionDays }, 'store opened');
    const stop = stopRetention;
    return new PgStore({
      pool,
      info: { engine, version },
      dialect,
      writeMode,
      logger: log,
      seriesCacheEntries: config.seriesCacheEntries,
      onClose: async () => {
        await stop();
        await embedded?.stop();
      },
    });
  } catch (err) {
    await stopRetention?.();
    await pool.end().catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    throw err;
  }
}

export const DEFAULT_ROLLUP_RETENTION_DAYS = { '1m': 90, '1h': 730 } as const;

/** Idempotent: replaces the policies so changed retention settings take effect. */
async function setTimescaleRetention(
  client: pg.PoolClient,
  days: { samples: number; samples_1m: number; samples_1h: number },
): Promise<void> {
  // Under the migration lock: two replicas replacing the policy at once
  // would otherwise both add one.
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  try {
    for (const [relation, keep] of Object.entries(days)) {
      await client.query('SELECT remove_retention_policy($1::regclass, if_exists => true)', [relation]);
      await client.query('SELECT add_retention_policy($1::regclass, make_interval(days => $2::int))', [
        relation,
        Math.ceil(keep),
      ]);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
  }
}
