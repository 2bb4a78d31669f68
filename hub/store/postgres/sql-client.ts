import type pg from 'pg';
import type { SqlClient } from '../store.js';

/** SqlClient over a pg pool: the raw access other hub modules get for their own tables. */
export class PoolSqlClient implements SqlClient {
  constructor(private readonly pool: pg.Pool) {}

  async query<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
  ): Promise<{ rows: Row[] }> {
    const r = await this.pool.query(text, params as unknown[] | undefined);
    return { rows: r.rows as Row[] };
  }

  async transaction<T>(fn: (tx: Pick<SqlClient, 'query'>) => Promise<T>): Promise<T> {
    return withTransaction(this.pool, async (client) =>
      fn({
        query: async <Row = Record<string, unknown>>(text: string, params?: readonly unknown[]) => {
          const r = await client.query(text, params as unknown[] | undefined);
          return { rows: r.rows as Row[] };
        },
      }),
    );
  }
}

/**
 * Runs fn inside BEGIN/COMMIT on one pooled connection; rolls back when fn
 * throws. A connection whose ROLLBACK fails is destroyed, not reused.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackErr) {
      broken = rollbackErr as Error;
    }
    throw err;
  } finally {
    client.release(broken);
  }
}
