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
