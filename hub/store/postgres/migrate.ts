import { readdir, readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type pg from 'pg';
import { PermanentError } from '../../errors.js';
import type { Migration } from '../store.js';
import type { Dialect } from './dialect.js';

/**
 * Versioned migrations. Files in hub/store/migrations are named
 * `NNN_name.sql` (every engine) or `NNN_name.<dialect>.sql` (only that
 * dialect; TimescaleDB and plain PostgreSQL differ for samples). Each runs
 * once, in id order, in its own transaction, and is recorded in
 * schema_migrations. The whole run holds a session advisory lock, so two
 * replicas starting at once apply each migration exactly once: the second
 * waits, then finds everything recorded.
 */

/** Arbitrary constant; the lock is per database. ("aiops" in ASCII.) */
export const MIGRATION_LOCK_KEY = 0x61696f7073;

const MIGRATIONS_DIR = new URL('../migrations/', import.meta.url);
const FILE_PATTERN = /^(\d{3}_[a-z0-9_]+)(?:\.(postgres|timescaledb))?\.sql$/;

/** The store's own migrations for a dialect, sorted by id. */
export async function loadStoreMigrations(dialect: Dialect): Promise<Migration[]> {
  const files = await readdir(MIGRATIONS_DIR);
  const out: Migration[] = [];
  for (const file of files.sort()) {
    const m = FILE_PATTERN.exec(file);
    if (!m) continue;
    const variant = m[2];
    if (variant !== undefined && variant !== dialect) continue;
    out.push({ id: m[1] as string, sql: await readFile(new URL(file, MIGRATIONS_DIR), 'utf8') });
  }
  return out;
}

export interface MigrationRunOptions {
  /** Try TimescaleDB when the database has not been migrated yet (default true). */
  readonly allowTimescale?: boolean;
  /** Contributed by other hub modules; run after the store's own, ordered by id. */
  readonly extraMigrations?: readonly Migration[];
}

export interface MigrationResult {
  readonly dialect: Dialect;
  readonly applied: string[];
}

/**
 * Picks the dialect and runs pending migrations on one dedicated connection,
 * all under the advisory lock (CREATE EXTENSION races too). Returns the
 * dialect and the ids it applied (empty when the schema was already current).
 */
export async function runMigrations(
  client: pg.ClientBase,
  options: MigrationRunOptions,
  logger: Logger,
): Promise<MigrationResult> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  try {
    const dialect =
      (await recordedDialect(client)) ??
      (await detectDialect(client, options.allowTimescale ?? true, logger));
    const applied = await applyPending(client, dialect, options.extraMigrations ?? [], logger);
    return { dialect, applied };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
  }
}

async function applyPending(
  client: pg.ClientBase,
  dialect: Dialect,
  extraMigrations: readonly Migration[],
  logger: Logger,
): Promise<string[]> {
  const own = await loadStoreMigrations(dialect);
  const extra = [...extraMigrations].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const ownIds = new Set(own.map((m) => m.id));
  const seen = new Set<string>();
  for (const m of extra) {
    if (ownIds.has(m.id) || seen.has(m.id)) {
      throw new PermanentError(`migration id ${m.id} is used twice`);
    }
    seen.add(m.id);
  }
  const all = [...own, ...extra];
  const applied: string[] = [];
  {
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         id text PRIMARY KEY,
         dialect text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const done = new Set(
      (await client.query<{ id: string }>('SELECT id FROM schema_migrations')).rows.map((r) => r.id),
    );
    for (const m of all) {
      if (done.has(m.id)) continue;
      try {
        await client.query('BEGIN');
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (id, dialect) VALUES ($1, $2)', [m.id, dialect]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new PermanentError(`migration ${m.id} failed: ${(err as Error).message}`, { cause: err });
      }
      applied.push(m.id);
      logger.info({ migration: m.id, dialect }, 'migration applied');
    }
  }
  return applied;
}

/**
 * TimescaleDB when the extension is available and can be created (it also
 * needs shared_preload_libraries and enough privilege); plain otherwise.
 */
async function detectDialect(
  client: pg.ClientBase,
  allowTimescale: boolean,
  logger: Logger,
): Promise<Dialect> {
  if (!allowTimescale) return 'postgres';
  const avail = await client.query("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'");
  if (avail.rowCount === 0) return 'postgres';
  try {
    await client.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
    return 'timescaledb';
  } catch (err) {
    logger.warn({ err }, 'timescaledb is available but cannot be created; using plain PostgreSQL');
    return 'postgres';
  }
}

/**
 * The dialect a database was migrated with, if any. Engines are sticky: a
 * database created without TimescaleDB keeps the plain schema even when the
 * extension appears later (converting tables is an operator's decision).
 */
export async function recordedDialect(client: pg.ClientBase): Promise<Dialect | undefined> {
  const exists = await client.query<{ t: string | null }>(
    "SELECT to_regclass('schema_migrations')::text AS t",
  );
  if (!exists.rows[0]?.t) return undefined;
  const r = await client.query<{ dialect: Dialect }>(
    "SELECT dialect FROM schema_migrations WHERE id LIKE '002\\_%' ORDER BY id LIMIT 1",
  );
  return r.rows[0]?.dialect;
}
