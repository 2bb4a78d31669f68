/**
 * Measures how much embedded PGlite blocks the hub's event loop under ingest:
 * the same appender load with PGlite on the main thread ('inline') and in a
 * worker thread ('worker', the default). Run with
 *   npx tsx test/integration/store/pglite-event-loop.measure.ts [batches] [rowsPerBatch]
 * Prints one line per mode plus an idle reference; results are recorded in
 * docs/storage.md.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import { openStore } from '../../../hub/store/open-store.js';
import { tempDir } from './test-databases.js';

const batches = Number(process.argv[2] ?? 40);
const rowsPerBatch = Number(process.argv[3] ?? 5000);
const SERIES = 1000;

async function measure(mode: 'inline' | 'worker'): Promise<void> {
  const tmp = await tempDir(`aiops-el-${mode}-`);
  const store = await openStore(
    { dataDir: tmp.dir, retentionDays: 30, embeddedInline: mode === 'inline' },
    pino({ level: process.env.LOG_LEVEL ?? 'silent' }),
  );
  try {
    const ids = await store.resolveSeries(
      Array.from({ length: SERIES }, (_, i) => ({
        cluster: 'c',
        node: `n${i % 10}`,
        source: 'gpu',
        entity: `GPU-${i}`,
        metric: 'gpu_power_watts',
        labels: {},
        kind: 'gauge' as const,
      })),
    );
    const h = monitorEventLoopDelay({ resolution: 5 });
    const t0 = Date.now();
    h.enable();
    const started = performance.now();
    for (let b = 1; b <= batches; b++) {
      const seriesIds = new Int32Array(rowsPerBatch);
      const timestampsMs = new Float64Array(rowsPerBatch);
      const values = new Float64Array(rowsPerBatch);
      for (let i = 0; i < rowsPerBatch; i++) {
        seriesIds[i] = ids[i % SERIES] as number;
        timestampsMs[i] = t0 + b * 1000 + Math.floor(i / SERIES);
        values[i] = (i * 7) % 300;
      }
      const app = store.appender();
      app.add({ agentId: 'el', sequence: b, seriesIds, timestampsMs, values, events: [], inventory: [] });
      await app.commit();
    }
    const seconds = (performance.now() - started) / 1000;
    h.disable();
    const ms = (ns: number) => (ns / 1e6).toFixed(1);
    console.log(
      `mode=${mode} rows=${batches * rowsPerBatch} rows_per_s=${Math.round((batches * rowsPerBatch) / seconds)} ` +
        `loop_delay_p50_ms=${ms(h.percentile(50))} p99_ms=${ms(h.percentile(99))} max_ms=${ms(h.max)}`,
    );
  } finally {
    await store.close();
    await tmp.remove();
  }
}

/** Reference: the same monitor on an idle loop, to separate machine noise from PGlite. */
async function idle(seconds: number): Promise<void> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  h.disable();
  const ms = (ns: number) => (ns / 1e6).toFixed(1);
  console.log(
    `mode=idle loop_delay_p50_ms=${ms(h.percentile(50))} p99_ms=${ms(h.percentile(99))} max_ms=${ms(h.max)}`,
  );
}

await idle(5);
await measure('inline');
await measure('worker');
