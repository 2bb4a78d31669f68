import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openStore } from '../../../hub/store/index.js';
import { createTestDatabase } from '../../support/databases.js';
import type { Store } from '../../../hub/store/store.js';

export const silentLogger = pino({ level: process.env.AIOPS_TEST_LOG ?? 'silent' });

export type Engine = 'pglite' | 'postgres';

export interface TestStore {
  readonly store: Store;
  /** Database URL (postgres only), e.g. for a second hub process. */
  readonly url: string | undefined;
  cleanup(): Promise<void>;
}

/** Opens the real store on a fresh PGlite data directory or a fresh PostgreSQL database. */
export async function openTestStore(engine: Engine, pgUrl?: string): Promise<TestStore> {
  if (engine === 'pglite') {
    const dataDir = await mkdtemp(join(tmpdir(), 'aiops-ingest-'));
    const store = await openStore({ dataDir, retentionDays: 30 }, silentLogger);
    return {
      store,
      url: undefined,
      async cleanup() {
        await store.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  }
  if (!pgUrl) throw new Error('AIOPS_TEST_PG_URL is needed');
  const db = await createTestDatabase(pgUrl, 'aiops_ingest');
  const store = await openStore({ databaseUrl: db.url, dataDir: '', retentionDays: 30 }, silentLogger);
  return {
    store,
    url: db.url,
    async cleanup() {
      await store.close();
      await db.drop();
    },
  };
}

export async function countSamples(store: Store): Promise<number> {
  const r = await store.sql.query<{ n: string }>('SELECT count(*)::text AS n FROM samples');
  return Number(r.rows[0]!.n);
}

/** Rows of samples that occur more than once (series, ts): must stay 0. */
export async function countDuplicateSamples(store: Store): Promise<number> {
  const r = await store.sql.query<{ n: string }>(
    'SELECT count(*)::text AS n FROM (SELECT series_id, ts FROM samples GROUP BY series_id, ts HAVING count(*) > 1) d',
  );
  return Number(r.rows[0]!.n);
}
