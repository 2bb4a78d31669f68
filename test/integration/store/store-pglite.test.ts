import { openStore } from '../../../hub/store/open-store.js';
import { silentLogger, storeContract } from './store-contract.js';
import { tempDir } from './test-databases.js';

// Embedded engine: PGlite in a worker, served over the wire protocol.
storeContract('PGlite (embedded, worker thread)', async () => {
  const tmp = await tempDir('aiops-store-pglite-');
  return {
    expectedEngine: 'pglite',
    sharedDatabase: false,
    open: (extra) => openStore({ dataDir: tmp.dir, retentionDays: 30, ...extra }, silentLogger),
    cleanup: tmp.remove,
  };
});
