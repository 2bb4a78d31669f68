/**
 * npm run bench:ws — latency of live samples from an agent's gRPC batch send
 * to WebSocket client receipt, at 50,000 samples/s ingested and ~500,000/s
 * delivered to N clients (default 1,000), for the stream endpoint and, in
 * the same run, a plain `ws` server as the baseline. Three processes per
 * phase: hub, load generator, clients (this machine's two cores are shared
 * by all three, so hub CPU is reported separately).
 *
 * Options (env): BENCH_WS_CLIENTS (1000), BENCH_WS_WARMUP_S (5), BENCH_WS_MEASURE_S (20),
 * BENCH_WS_INGEST (grpc | bus: publish straight onto the hub's bus instead,
 * isolating the streaming path from ingest), BENCH_WS_HUB_NODE_OPTIONS (node
 * flags for the hub process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"),
 * BENCH_WS_BASELINE (0 skips the baseline phase while investigating).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import { HUB_NODE_FLAGS } from '../../hub/runtime.js';
import { AGENTS, SERIES_PER_AGENT } from './ws-bench-shape.js';

const clients = Number(process.env.BENCH_WS_CLIENTS ?? 1000);
const warmupS = Number(process.env.BENCH_WS_WARMUP_S ?? 5);
const measureS = Number(process.env.BENCH_WS_MEASURE_S ?? 20);
const ingest = process.env.BENCH_WS_INGEST ?? 'grpc';
if (ingest !== 'grpc' && ingest !== 'bus') throw new Error('BENCH_WS_INGEST must be grpc or bus');
const ingestPerS = AGENTS * SERIES_PER_AGENT;
const here = (f: string): string => new URL(f, import.meta.url).pathname;

interface Msg {
  type: string;
  [k: string]: unknown;
}

function start(file: string, args: string[], extraExecArgv: string[] = []): ChildProcess {
  return fork(here(file), args, {
    execArgv: ['--import', 'tsx', ...extraExecArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

async function next(child: ChildProcess, type: string, timeoutMs = 120_000): Promise<Msg> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${type} from child within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const on = (m: Msg): void => {
      if (m.type !== type) return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before ${type}`)));
  });
}

interface PhaseResult {
  p50: number;
  p99: number;
  max: number;
  samplesPerS: number;
  framesPerS: number;
  hubCpuPercent: number;
  clientsCpuPercent: number;
  busLagP99Ms: number;
  hubLoopDelayP99Ms: number;
  loadCpuPercent: number;
  hubMaxRssMb: number;
  closed: number;
  ingestedPerS: number;
  skippedBatches: number;
  coalesced: number;
}

async function phase(mode: 'stream' | 'baseline'): Promise<PhaseResult> {
  // The hub runs with the flags it ships with (hub/runtime.ts), plus
  // BENCH_WS_HUB_NODE_OPTIONS: extra node flags for the hub process only (e.g. --cpu-prof).
  const hub = start(
    './ws-bench-hub.ts',
    [mode],
    [...HUB_NODE_FLAGS, ...(process.env.BENCH_WS_HUB_NODE_OPTIONS ?? '').split(' ').filter(Boolean)],
  );
  const children = [hub];
  try {
    const ready = await next(hub, 'ready');
    const c = start('./ws-bench-clients.ts', [
      `ws://127.0.0.1:${ready.wsPort}/api/v1/stream`,
      String(ready.adminToken),
      String(clients),
    ]);
    children.push(c);
    await next(c, 'ready');
    let load = hub;
    if (ingest === 'grpc') {
      load = start('./ws-bench-load.ts', [`127.0.0.1:${ready.grpcPort}`, String(ready.agentToken)]);
      children.push(load);
      await next(load, 'ready');
    } else {
      hub.send({ type: 'load' });
    }
    let lastStats: Msg = { type: 'stats', sent: 0, skipped: 0 };
    load.on('message', (m: Msg) => {
      if (m.type === 'stats') lastStats = m;
    });
    await new Promise((r) => setTimeout(r, warmupS * 1000));
    const sentBefore = Number(lastStats.sent);
    const skippedBefore = Number(lastStats.skipped);
    const cpuBefore = Number(lastStats.cpuMs ?? 0);
    c.send({ type: 'reset' });
    hub.send({ type: 'reset' });
    await new Promise((r) => setTimeout(r, measureS * 1000));
    c.send({ type: 'report' });
    hub.send({ type: 'report' });
    const [cr, hr] = await Promise.all([next(c, 'report'), next(hub, 'report')]);
    return {
      p50: Number(cr.p50),
      p99: Number(cr.p99),
      max: Number(cr.max),
      samplesPerS: Number(cr.count) / measureS,
      framesPerS: Number(cr.frames) / measureS,
      hubCpuPercent: Number(hr.cpuPercent),
      clientsCpuPercent: Number(cr.cpuPercent),
      busLagP99Ms: Number(hr.busLagP99Ms),
      hubLoopDelayP99Ms: Number(hr.loopDelayP99Ms),
      loadCpuPercent:
        ingest === 'grpc' ? ((Number(lastStats.cpuMs) - cpuBefore) / (measureS * 1000)) * 100 : Number.NaN,
      hubMaxRssMb: Number(hr.maxRssMb),
      closed: Number(cr.closed),
      ingestedPerS:
        ingest === 'grpc' ? (Number(lastStats.sent) - sentBefore) / measureS : Number(hr.directSentPerS),
      skippedBatches: Number(lastStats.skipped) - skippedBefore,
      coalesced: Number(hr.coalesced),
    };
  } finally {
    for (const child of children.reverse()) {
      child.disconnect();
      child.kill('SIGTERM');
    }
    await Promise.all(children.map((ch) => (ch.exitCode === null ? once(ch, 'exit') : undefined)));
  }
}

const fmt = (r: PhaseResult): string =>
  `p50=${r.p50}ms p99=${r.p99}ms max=${r.max.toFixed(0)}ms delivered=${r.samplesPerS.toFixed(0)} samples/s ` +
  `frames=${r.framesPerS.toFixed(0)}/s ingested=${r.ingestedPerS.toFixed(0)}/s skipped_batches=${r.skippedBatches} ` +
  `hub_cpu=${r.hubCpuPercent.toFixed(0)}% clients_cpu=${r.clientsCpuPercent.toFixed(0)}% ` +
  `load_cpu=${r.loadCpuPercent.toFixed(0)}% ingest_to_bus_p99=${r.busLagP99Ms}ms ` +
  `hub_loop_delay_p99=${r.hubLoopDelayP99Ms.toFixed(0)}ms hub_max_rss=${r.hubMaxRssMb.toFixed(0)}MiB clients_closed=${r.closed} ` +
  `coalesced_total=${r.coalesced}`;

console.log(
  `load average before the run: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
console.log(
  `bench:ws ${clients} clients, ${ingestPerS} samples/s through ${ingest === 'grpc' ? 'gRPC ingest' : 'the bus directly'}, warmup ${warmupS}s, measure ${measureS}s`,
);
const stream = await phase('stream');
console.log(`stream   ${fmt(stream)}`);
// A p99 over the samples that arrived says nothing if the hub fell behind and
// the load generator skipped batches (they are never timed).
if (stream.ingestedPerS < 0.95 * ingestPerS || stream.skippedBatches > 0) {
  console.log(
    `WARNING: ingest fell short of the target (${Math.round(stream.ingestedPerS)}/s of ${ingestPerS}/s, ` +
      `${stream.skippedBatches} batches skipped): this run does not measure the target load`,
  );
}
const baseline = process.env.BENCH_WS_BASELINE === '0' ? undefined : await phase('baseline');
if (baseline) console.log(`baseline ${fmt(baseline)}`);
if (baseline) console.log(`p99 ratio stream/baseline = ${(stream.p99 / baseline.p99).toFixed(2)}`);
console.log(
  `bench:ws clients=${clients} ingest_per_s=${Math.round(stream.ingestedPerS)} p50_ms=${stream.p50} p99_ms=${stream.p99} baseline_p99_ms=${baseline?.p99 ?? 'skipped'}`,
);
