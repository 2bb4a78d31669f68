import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * A uniquely named database on the test PostgreSQL server (AIOPS_TEST_PG_URL),
 * so runs and parallel suites never share state; `drop()` removes it WITH
 * (FORCE), closing connections a killed process left behind.
 */
export async function createTestDatabase(
  baseUrl: string,
  prefix = 'aiops_test',
): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withAdmin(baseUrl, (admin) => admin.query(`CREATE DATABASE ${name}`));
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => withAdmin(baseUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  };
}

async function withAdmin(baseUrl: string, fn: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await fn(admin);
  } finally {
    await admin.end();
  }
}
