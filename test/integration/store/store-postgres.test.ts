import pg from 'pg';
import { expect, it } from 'vitest';
import { ConfigError, PermanentError } from '../../../hub/errors.js';
import { describeWithComponent, pgMissing, pgUrl } from '../../support/components.js';
import { openStore } from '../../../hub/store/open-store.js';
import { silentLogger, storeContract } from './store-contract.js';
import { createTestDatabase, tempDir } from './test-databases.js';

// Real PostgreSQL: a fresh database per run (dropped afterwards). TimescaleDB
// is used when the server has it; `timescale: false` pins the plain schema so
// this suite always covers the plain path.
describeWithComponent('PostgreSQL', pgMissing, 'Store on PostgreSQL', () => {
  storeContract('PostgreSQL (plain schema, binary COPY)', async () => {
    const db = await createTestDatabase(pgUrl as string);
    const tmp = await tempDir('aiops-store-pg-');
    return {
      expectedEngine: 'postgres',
      sharedDatabase: true,
      open: (extra) =>
        openStore(
          { databaseUrl: db.url, dataDir: tmp.dir, retentionDays: 30, timescale: false, ...extra },
          silentLogger,
        ),
      cleanup: async () => {
        await db.drop();
        await tmp.remove();
      },
    };
  });
});

describeWithComponent('PostgreSQL', pgMissing, 'Store start-up on PostgreSQL', () => {
  it('migrates a fresh database once when two hubs start at the same moment', async () => {
    const db = await createTestDatabase(pgUrl as string);
    try {
      const open = () =>
        openStore({ databaseUrl: db.url, dataDir: '', retentionDays: 30, timescale: false }, silentLogger);
      const stores = await Promise.all([open(), open(), open()]);
      try {
        const r = await stores[0]?.sql.query<{ id: string; n: string }>(
          'SELECT id, count(*) OVER (PARTITION BY id) AS n FROM schema_migrations ORDER BY id',
        );
        expect(r?.rows).toEqual([
          { id: '001_core', n: '1' },
          { id: '002_samples', n: '1' },
        ]);
        const [a, b] = await Promise.all(
          stores
            .slice(0, 2)
            .map((s) =>
              s.resolveSeries([
                { cluster: 'c', node: 'n', source: 's', entity: 'e', metric: 'm', labels: {}, kind: 'gauge' },
              ]),
            ),
        );
        expect(a).toEqual(b);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    } finally {
      await db.drop();
    }
  });

  it('refuses module migrations that reuse an id, and a bad URL, before touching data', async () => {
    const db = await createTestDatabase(pgUrl as string);
    try {
      const extra = [
        { id: 'm1', sql: 'CREATE TABLE a (x int)' },
        { id: 'm1', sql: 'CREATE TABLE b (x int)' },
      ];
      await expect(
        openStore(
          { databaseUrl: db.url, dataDir: '', retentionDays: 30, extraMigrations: extra },
          silentLogger,
        ),
      ).rejects.toThrow(PermanentError);
      await expect(
        openStore({ databaseUrl: 'mysql://x', dataDir: '', retentionDays: 0 }, silentLogger),
      ).rejects.toThrow(ConfigError);
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        const t = await c.query("SELECT to_regclass('a') AS a, to_regclass('series') AS s");
        expect(t.rows).toEqual([{ a: null, s: null }]);
      } finally {
        await c.end();
      }
    } finally {
      await db.drop();
    }
  });
});
