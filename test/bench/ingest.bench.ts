/*
 * bench:ingest — durable samples/s through the whole ingest path, against a
 * raw binary COPY of the same rows into the same table over the same number
 * of connections, measured in the same run.
 *
 * Ingest phase: N agent clients (default 4), each streaming batches of a
 * realistic node shape (nodes x 8 GPUs x 40 metrics, 1 s samples) over real
 * gRPC on loopback into createIngestServer -> group-commit writer -> store
 * (real PostgreSQL when AIOPS_TEST_PG_URL is set, in a fresh database; else
 * embedded PGlite). Timed from the first batch sent until the last one is
 * acknowledged, i.e. durable. Batches are generated and encoded before the
 * timer starts: encoding is the agent's cost, and agents run elsewhere.
 *
 * Baseline phase: the samples table is emptied, then the same rows (same
 * series ids, timestamps, values) are written with the store's raw COPY
 * function, N concurrent writers, in chunks the size of the hub's group
 * commits.
 *
 * Environment: BENCH_CLIENTS (4), BENCH_BATCHES (batches per client, 150 on
 * PostgreSQL, 10 on PGlite),
 * BENCH_NODES (nodes per client, 2), BENCH_SECONDS_PER_BATCH (8),
 * BENCH_WRITERS (hub writer connections = COPY connections, default
 * BENCH_CLIENTS); tuning experiments: BENCH_WINDOW, BENCH_PER_AGENT,
 * BENCH_COMMIT_SAMPLES (hub defaults otherwise).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import {
  encodeStreamRequest,
  MetricType,
  TestIngestClient,
  type Batch,
} from '../../hub/codec/test-client.js';
import { DEFAULT_WRITER_LIMITS } from '../../hub/ingest/limits.js';
import { createIngestServer } from '../../hub/ingest/server.js';
import { openStore, writeSamplesRaw } from '../../hub/store/index.js';
import { createTestDatabase } from '../support/databases.js';
import type { SeriesIdentity, Store } from '../../hub/store/store.js';

const env = (name: string, dflt: number): number => {
  const v = process.env[name];
  const n = v === undefined ? dflt : Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
};
const CLIENTS = env('BENCH_CLIENTS', 4);
// Embedded PGlite writes ~10k rows/s here: fewer batches keep its run near a minute.
const BATCHES = env('BENCH_BATCHES', process.env.AIOPS_TEST_PG_URL ? 150 : 10);
const NODES = env('BENCH_NODES', 2);
const SECONDS_PER_BATCH = env('BENCH_SECONDS_PER_BATCH', 8);
/** Hub writer connections (concurrent group commits) = baseline COPY connections. */
const WRITERS = env('BENCH_WRITERS', CLIENTS);
const GPUS = 8;
const METRICS = 40;
const CLUSTER = 'bench';
const log = (msg: string): void => void process.stdout.write(`${msg}\n`);
const logger = pino({ level: process.env.AIOPS_BENCH_LOG ?? 'warn' }, pino.destination(2));

interface ClientData {
  readonly agentId: string;
  readonly identities: SeriesIdentity[];
  readonly frames: Buffer[];
  /** Columns per batch (refs are 1-based indexes into identities; mapped to ids for COPY). */
  readonly refs: Uint32Array;
  readonly timestampsMs: Float64Array;
  readonly values: Float64Array;
}

function metricName(m: number): string {
  const names = [
    'gpu_temperature_celsius',
    'gpu_power_watts',
    'gpu_utilization_ratio',
    'gpu_memory_used_bytes',
    'gpu_sm_clock_hertz',
  ];
  return m < names.length ? names[m]! : `gpu_dcgm_field_${m}`;
}

/** Generates and encodes one client's batches: series defined in the first batch, packed samples after. */
function generate(client: number, startMs: number): ClientData {
  const agentId = `bench-agent-${client}`;
  const series: Batch['series'] = [];
  const identities: SeriesIdentity[] = [];
  for (let n = 0; n < NODES; n++) {
    for (let g = 0; g < GPUS; g++) {
      for (let m = 0; m < METRICS; m++) {
        const ref = identities.length + 1;
        const entity = `GPU-${client}-${n}-${g}`;
        const metric = metricName(m);
        series.push({
          ref,
          metric,
          source: 'gpu',
          entity,
          labels: [{ name: 'model', value: 'H100' }],
          type: MetricType.METRIC_TYPE_GAUGE,
        });
        // The node comes from Hello; one agent per client, so all its series share the client's Hello node.
        identities.push({
          cluster: CLUSTER,
          node: `bench-node-${client}`,
          source: 'gpu',
          entity,
          metric,
          labels: { model: 'H100' },
          kind: 'gauge',
        });
      }
    }
  }
  const nSeries = identities.length;
  const perBatch = nSeries * SECONDS_PER_BATCH;
  const total = perBatch * BATCHES;
  const refs = new Uint32Array(total);
  const timestampsMs = new Float64Array(total);
  const values = new Float64Array(total);
  const frames: Buffer[] = [];
  let k = 0;
  for (let b = 0; b < BATCHES; b++) {
    const samples: Batch['samples'] = [];
    for (let s = 0; s < nSeries; s++) {
      const ts: number[] = [];
      const vs: number[] = [];
      for (let i = 0; i < SECONDS_PER_BATCH; i++) {
        const t = startMs + (b * SECONDS_PER_BATCH + i) * 1000;
        const v = Math.round((50 + 20 * Math.sin((t / 60_000) * (1 + (s % 7)))) * 100) / 100;
        ts.push(t);
        vs.push(v);
        refs[k] = s + 1;
        timestampsMs[k] = t;
        values[k] = v;
        k++;
      }
      samples.push({ ref: s + 1, timestampsMs: ts, values: vs });
    }
    frames.push(
      encodeStreamRequest({
        msg: {
          $case: 'batch',
          batch: {
            sequence: b + 1,
            droppedBefore: 0,
            series: b === 0 ? series : [],
            samples,
            events: [],
            inventory: [],
          },
        },
      }),
    );
  }
  return { agentId, identities, frames, refs, timestampsMs, values };
}

/** Streams one client's frames with the window the hub grants; resolves when all are acked. */
async function runClient(address: string, token: string, client: number, data: ClientData): Promise<number> {
  const c = new TestIngestClient(address);
  const call = c.rawStream(token);
  let samples = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      let next = 0;
      let acked = 0;
      let window = 1;
      const send = () => call.write(data.frames[next++]!);
      call.on('data', (m) => {
        if (m.msg?.$case === 'welcome') {
          window = m.msg.welcome.window;
          if (m.msg.welcome.lastAckedSequence !== 0) reject(new Error('fresh database expected'));
          while (next < data.frames.length && next - acked < window) send();
        } else if (m.msg?.$case === 'ack') {
          acked++;
          samples += m.msg.ack.result?.samplesStored ?? 0;
          if (m.msg.ack.result?.rejections.length)
            reject(new Error(`rejections: ${JSON.stringify(m.msg.ack.result.rejections)}`));
          if (acked === data.frames.length) {
            call.end();
            resolve();
          } else if (next < data.frames.length) send();
        }
      });
      call.on('error', reject);
      call.write(
        encodeStreamRequest({
          msg: {
            $case: 'hello',
            hello: {
              agentId: data.agentId,
              cluster: CLUSTER,
              node: `bench-node-${client}`,
              version: 'bench/1',
              capabilities: ['gpu'],
            },
          },
        }),
      );
    });
  } finally {
    c.close();
  }
  return samples;
}

async function main(): Promise<void> {
  const pgUrl = process.env.AIOPS_TEST_PG_URL;
  let store: Store;
  let cleanup: () => Promise<void>;
  let engineNote: string;
  if (pgUrl) {
    const db = await createTestDatabase(pgUrl, 'aiops_bench');
    store = await openStore(
      { databaseUrl: db.url, dataDir: '', retentionDays: 30, maxConnections: WRITERS + 2 },
      logger,
    );
    engineNote = `PostgreSQL (fresh database ${db.name})`;
    cleanup = async () => {
      await store.close();
      await db.drop();
    };
  } else {
    const dir = await mkdtemp(join(tmpdir(), 'aiops-bench-'));
    store = await openStore({ dataDir: dir, retentionDays: 30 }, logger);
    engineNote = `embedded PGlite (${dir}); set AIOPS_TEST_PG_URL for PostgreSQL`;
    cleanup = async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    };
  }

  try {
    log(
      `bench:ingest: ${engineNote}; ${store.info.engine}; ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}); node ${process.version}`,
    );
    const startMs = Date.now() - (BATCHES * SECONDS_PER_BATCH + 600) * 1000;
    const data = Array.from({ length: CLIENTS }, (_, c) => generate(c, startMs));
    const perBatch = NODES * GPUS * METRICS * SECONDS_PER_BATCH;
    const totalSamples = CLIENTS * BATCHES * perBatch;
    const frameBytes = data.reduce((n, d) => n + d.frames.reduce((m, f) => m + f.length, 0), 0);
    log(
      `bench:ingest: ${CLIENTS} clients x ${BATCHES} batches x ${perBatch} samples (${NODES} nodes x ${GPUS} GPUs x ${METRICS} metrics x ${SECONDS_PER_BATCH} s) = ${totalSamples} samples, ${(frameBytes / totalSamples).toFixed(1)} wire bytes/sample`,
    );

    const { token } = await store.enrollmentTokens.create(CLUSTER, 'bench');
    const concurrentCommits = WRITERS;
    const server = createIngestServer({
      store,
      logger,
      registry: new Registry(),
      writer: { concurrentCommits },
    });
    const port = await server.start('127.0.0.1:0');
    const address = `127.0.0.1:${port}`;

    await checkpoint(store);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const stored = await Promise.all(data.map((d, c) => runClient(address, token, c, d)));
    const ingestS = (performance.now() - t0) / 1000;
    const ingestCpu = process.cpuUsage(cpu0);
    await server.stop();
    const storedTotal = stored.reduce((a, b) => a + b, 0);
    if (storedTotal !== totalSamples) throw new Error(`stored ${storedTotal} of ${totalSamples} samples`);
    const ingestRate = totalSamples / ingestS;
    log(
      `bench:ingest: end to end ${totalSamples} samples durable in ${ingestS.toFixed(2)} s = ${Math.round(ingestRate)} samples/s (${concurrentCommits} writer connections; this process used ${cpuPerSample(ingestCpu, totalSamples)} µs CPU/sample incl. the in-process clients)`,
    );

    // Baseline: same rows, same table (emptied), same number of connections.
    const columns = await Promise.all(
      data.map(async (d) => {
        const ids = await store.resolveSeries(d.identities);
        const seriesIds = new Float64Array(d.refs.length);
        for (let i = 0; i < d.refs.length; i++) seriesIds[i] = ids[d.refs[i]! - 1]!;
        return { seriesIds, timestampsMs: d.timestampsMs, values: d.values };
      }),
    );
    await store.sql.query('TRUNCATE samples');
    await checkpoint(store);
    const chunk = DEFAULT_WRITER_LIMITS.maxCommitSamples;
    const cpu1 = process.cpuUsage();
    const t1 = performance.now();
    // Every client's rows in commit-sized chunks, taken by WRITERS concurrent connections.
    const chunks = columns.flatMap((col) =>
      Array.from({ length: Math.ceil(col.seriesIds.length / chunk) }, (_, k) => ({
        seriesIds: col.seriesIds.subarray(k * chunk, (k + 1) * chunk),
        timestampsMs: col.timestampsMs.subarray(k * chunk, (k + 1) * chunk),
        values: col.values.subarray(k * chunk, (k + 1) * chunk),
      })),
    );
    let nextChunk = 0;
    const copied = await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        let n = 0;
        while (nextChunk < chunks.length) n += await writeSamplesRaw(store, [chunks[nextChunk++]!]);
        return n;
      }),
    );
    const copyS = (performance.now() - t1) / 1000;
    const copyCpu = process.cpuUsage(cpu1);
    const copiedTotal = copied.reduce((a, b) => a + b, 0);
    if (copiedTotal !== totalSamples) throw new Error(`copied ${copiedTotal} of ${totalSamples} rows`);
    const copyRate = totalSamples / copyS;
    log(
      `bench:ingest: raw COPY ${totalSamples} rows in ${copyS.toFixed(2)} s = ${Math.round(copyRate)} rows/s (${WRITERS} connections, ${chunk} rows per COPY; this process used ${cpuPerSample(copyCpu, totalSamples)} µs CPU/sample)`,
    );
    log(
      `bench:ingest samples_per_s=${Math.round(ingestRate)} copy_samples_per_s=${Math.round(copyRate)} ratio=${(ingestRate / copyRate).toFixed(3)}`,
    );
  } finally {
    await cleanup();
  }
}

function cpuPerSample(u: NodeJS.CpuUsage, samples: number): string {
  return ((u.user + u.system) / samples).toFixed(2);
}

/** Starts each phase without a pending checkpoint's I/O from the previous one (needs superuser; skipped otherwise). */
async function checkpoint(store: Store): Promise<void> {
  await store.sql.query('CHECKPOINT').catch(() => undefined);
}

await main();
