/**
 * A hub for the agent reliability suites, run as its own process so it can
 * be SIGKILLed: the real ingest gRPC server over the real store (PostgreSQL
 * at AIOPS_TEST_HUB_DB). Prints "READY <port>" when it accepts streams.
 */
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createIngestServer } from '../../../hub/ingest/server.js';
import { openStore } from '../../../hub/store/open-store.js';

const logger = pino({ level: process.env.AIOPS_TEST_HUB_LOG ?? 'warn' }, process.stderr);
const store = await openStore(
  { databaseUrl: process.env.AIOPS_TEST_HUB_DB!, dataDir: '', retentionDays: 3650 },
  logger,
);
// A hub with a lower max_samples_per_batch refuses bigger batches (the refused-batch test).
const maxSamplesPerBatch = Number(process.env.AIOPS_TEST_HUB_MAX_SAMPLES_PER_BATCH ?? 0);
const server = createIngestServer({
  store,
  logger,
  registry: new Registry(),
  ...(maxSamplesPerBatch > 0 ? { limits: { maxSamplesPerBatch } } : {}),
});
const port = await server.start(`127.0.0.1:${process.env.AIOPS_TEST_HUB_PORT ?? '0'}`);
process.stdout.write(`READY ${port}\n`);
process.once('SIGTERM', () => {
  void server
    .stop({ timeoutMs: 2000 })
    .then(() => store.close())
    .then(() => process.exit(0));
});
