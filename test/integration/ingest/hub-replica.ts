/*
 * One hub ingest replica as its own process, for the two-replica test:
 * opens the store on AIOPS_REPLICA_DB_URL, serves ingest on a free loopback
 * port, prints "PORT <n>" on stdout, and on SIGTERM stops gracefully.
 */
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createIngestServer } from '../../../hub/ingest/server.js';
import { openStore } from '../../../hub/store/index.js';

const url = process.env.AIOPS_REPLICA_DB_URL;
if (!url) throw new Error('AIOPS_REPLICA_DB_URL is required');
const logger = pino({ level: process.env.AIOPS_TEST_LOG ?? 'warn' }, pino.destination(2));
const store = await openStore({ databaseUrl: url, dataDir: '', retentionDays: 30 }, logger);
const server = createIngestServer({ store, logger, registry: new Registry() });
const port = await server.start('127.0.0.1:0');
process.stdout.write(`PORT ${port}\n`);
process.on('SIGTERM', () => {
  void (async () => {
    await server.stop({ timeoutMs: 10_000 });
    await store.close();
    process.exit(0);
  })();
});
