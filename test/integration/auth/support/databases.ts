import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { authMigrations } from '../../../../hub/auth/migrations.js';
import type { SqlClient } from '../../../../hub/store/store.js';
import { pgMissing, pgUrl } from '../../../support/components.js';

/**
 * Databases for the auth suites: real PostgreSQL in a schema of its own (so
 * suites run beside everyone else's) and embedded PGlite, each behind the
 * store's SqlClient interface with the auth migrations applied the way the
 * store's runner applies them (in id order, each in a transaction).
 */
export interface TestDatabase {
  readonly name: string;
  readonly sql: SqlClient;
  close(): Promise<void>;
}

export interface TestEngine {
  readonly name: string;
  readonly missing: string | undefined;
  open(): Promise<TestDatabase>;
}

async function migrate(sql: SqlClient): Promise<void> {
  for (const m of authMigrations) await sql.transaction((tx) => tx.query(m.sql));
}

export const postgresEngine: TestEngine = {
  name: 'PostgreSQL',
  missing: pgMissing,
  async open() {
    const schema = `auth_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    const pool = new pg.Pool({ connectionString: pgUrl, max: 4, options: `-c search_path=${schema}` });
    const sql: SqlClient = {
      async query<Row>(text: string, params?: readonly unknown[]) {
        const result = await pool.query(text, params as unknown[] | undefined);
        return { rows: result.rows as Row[] };
      },
      async transaction<T>(fn: (tx: Pick<SqlClient, 'query'>) => Promise<T>) {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          const out = await fn({
            async query<Row>(text: string, params?: readonly unknown[]) {
              const result = await client.query(text, params as unknown[] | undefined);
              return { rows: result.rows as Row[] };
            },
          });
          await client.query('COMMIT');
          return out;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        } finally {
          client.release();
        }
      },
    };
    await migrate(sql);
    return {
      name: 'PostgreSQL',
      sql,
      async close() {
        await pool.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => undefined);
        await pool.end();
      },
    };
  },
};

export const pgliteEngine: TestEngine = {
  name: 'PGlite',
  missing: undefined,
  async open() {
    const db = await PGlite.create();
    const sql: SqlClient = {
      async query<Row>(text: string, params?: readonly unknown[]) {
        const result = await db.query<Row>(text, params as unknown[] | undefined);
        return { rows: result.rows };
      },
      transaction<T>(fn: (tx: Pick<SqlClient, 'query'>) => Promise<T>) {
        return db.transaction((tx) =>
          fn({
            async query<Row>(text: string, params?: readonly unknown[]) {
              // PGlite runs one statement per query() with parameters; migrations use exec().
              if (params === undefined) {
                const results = await tx.exec(text);
                return { rows: (results.at(-1)?.rows ?? []) as Row[] };
              }
              const result = await tx.query<Row>(text, params as unknown[]);
              return { rows: result.rows };
            },
          }),
        );
      },
    };
    await migrate(sql);
    return { name: 'PGlite', sql, close: () => db.close() };
  },
};

export const engines: readonly TestEngine[] = [postgresEngine, pgliteEngine];
