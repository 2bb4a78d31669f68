/**
 * npm run bench:ws:path — hub CPU per delivered sample of the stream's
 * fan-out path (router, downsampler, outbox, frame building) for the
 * bench:ws workload (1,000 subscriptions, 100 agent batches of 500 samples
 * per simulated second, a flush every 50 ms), with the sockets replaced by
 * byte counters so socket writes and the client process are left out. The
 * baseline, measured in the same run on the same batches, is the
 * straightforward fan-out of bench:ws's baseline server: per client, test
 * each sample against its selector (memoized per series) and encode the
 * client's tuples itself. CPU time, not wall time, so other load on the
 * machine disturbs it less. Env: BENCH_WS_PATH_SECONDS (simulated seconds, 20).
 */
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { AdminOnlyAuthorizer, AdminTokenAuthenticator } from '../../hub/api/admin-token.js';
import type { Principal } from '../../hub/api/access.js';
import type { BusBatch, SampleMessage } from '../../hub/bus/bus.js';
import { MemoryBus } from '../../hub/bus/memory-bus.js';
import { resolveStreamConfig } from '../../hub/stream/config.js';
import { compileSelector, type CompiledSelector } from '../../hub/stream/selector.js';
import { StreamHub } from '../../hub/stream/stream-hub.js';
import { AGENTS, CLUSTER, benchSeries, clientSelector } from './ws-bench-shape.js';

const CLIENTS = 1000;
const seconds = Number(process.env.BENCH_WS_PATH_SECONDS ?? 20);
const FLUSH_EVERY_BATCHES = 5; // 100 batches/s -> a flush every 50 ms, the stream's default

/** Stands in for a ws socket: counts what would be written. */
class CountingSocket extends EventEmitter {
  readonly OPEN = 1;
  readonly readyState = 1;
  readonly bufferedAmount = 0;
  frames = 0;
  bytes = 0;
  send(data: string): void {
    this.frames++;
    this.bytes += data.length;
  }
  ping(): void {}
  close(): void {}
  terminate(): void {}
}

const agents = benchSeries();

/** Runs `simulatedS` seconds of batches through deliver/flush; returns the CPU ms used. */
function drive(simulatedS: number, deliver: (batch: BusBatch) => void, flush: () => void): number {
  const cpu = process.cpuUsage();
  let ts = Date.now();
  for (let s = 0; s < simulatedS; s++) {
    for (let b = 0; b < AGENTS; b++) {
      ts += 1000 / AGENTS;
      const samples: SampleMessage[] = agents[b]!.map((series) => ({
        series,
        timestampsMs: [ts],
        values: [Math.random() * 100],
      }));
      deliver({ cluster: CLUSTER, samples, events: [] });
      if (b % FLUSH_EVERY_BATCHES === FLUSH_EVERY_BATCHES - 1) flush();
    }
  }
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / 1000;
}

interface PathResult {
  cpuMs: number;
  delivered: number;
}

/** The stream path as the hub runs it (StreamHub, sessions, router), fed synchronously from its bus handlers. */
async function streamPath(): Promise<PathResult> {
  const logger = pino({ level: 'warn' });
  const bus = new MemoryBus({ logger });
  const handlers: ((batch: BusBatch) => void)[] = [];
  const subscribe = bus.subscribe.bind(bus);
  bus.subscribe = (key, handler) => {
    handlers.push(handler);
    return subscribe(key, handler);
  };
  const registry = new Registry();
  const hub = new StreamHub({
    bus,
    authenticator: new AdminTokenAuthenticator('bench'),
    authorizer: new AdminOnlyAuthorizer(),
    logger,
    registry,
    // Simulated time runs faster than the clock: a rate cap above it keeps
    // the downsampler on its pass-through path, the one a 1 Hz series takes.
    config: resolveStreamConfig({ maxRateHz: 1000 }),
  });
  const principal: Principal = { kind: 'admin-token', id: 'admin', name: 'admin', groups: [] };
  for (let i = 0; i < CLIENTS; i++) {
    const ws = new CountingSocket();
    hub.accept(ws as never, principal, { bearerToken: 'bench' });
    const msg = { type: 'subscribe', id: 's', stream: 'samples', selector: clientSelector(i) };
    ws.emit('message', Buffer.from(JSON.stringify(msg)), false);
  }
  // Subscriptions are authorized asynchronously.
  await new Promise((r) => setTimeout(r, 200));
  if (handlers.length === 0) throw new Error('the stream subscribed to nothing');
  const deliver = (batch: BusBatch): void => handlers.forEach((h) => h(batch));
  const flush = (): void => (hub as unknown as { flushAll(): void }).flushAll();
  const sent = async (): Promise<number> => {
    const metric = await registry.getSingleMetric('aiops_stream_messages_sent_total')!.get();
    return metric.values.filter((v) => v.labels.stream === 'samples').reduce((n, v) => n + v.value, 0);
  };
  // Warm-up first: series identities, caches, JIT.
  drive(2, deliver, flush);
  const before = await sent();
  const cpuMs = drive(seconds, deliver, flush);
  const delivered = (await sent()) - before;
  await hub.stop();
  return { cpuMs, delivered };
}

/** The baseline: bench:ws's plain fan-out, per client and per sample. */
function baselinePath(): PathResult {
  const clients = Array.from({ length: CLIENTS }, (_, i) => ({
    selector: compileSelector(clientSelector(i)) as CompiledSelector,
    wants: new Map<number, boolean>(),
    pending: '',
    ws: new CountingSocket(),
  }));
  let delivered = 0;
  const deliver = (batch: BusBatch): void => {
    for (const client of clients) {
      for (const s of batch.samples) {
        let wanted = client.wants.get(s.series.id);
        if (wanted === undefined) {
          wanted = client.selector.matchesSeries(s.series);
          client.wants.set(s.series.id, wanted);
        }
        if (!wanted) continue;
        for (let i = 0; i < s.values.length; i++) {
          client.pending += `${client.pending ? ',' : ''}[${s.series.id},${s.timestampsMs[i]},${s.values[i]}]`;
          delivered++;
        }
      }
    }
  };
  const flush = (): void => {
    for (const client of clients) {
      if (!client.pending) continue;
      client.ws.send(`{"type":"data","subs":{"s":{"samples":[${client.pending}]}}}`);
      client.pending = '';
    }
  };
  drive(2, deliver, flush);
  const before = delivered;
  const cpuMs = drive(seconds, deliver, flush);
  return { cpuMs, delivered: delivered - before };
}

// Each client watches 5 GPUs x 1 metric on every agent, each sampled once per simulated second.
const expected = CLIENTS * 5 * AGENTS * seconds;
const stream = await streamPath();
const baseline = baselinePath();
for (const [name, r] of [
  ['stream', stream],
  ['baseline', baseline],
] as const) {
  if (r.delivered !== expected)
    throw new Error(`${name} delivered ${r.delivered} samples, expected ${expected}`);
}
const ns = (r: PathResult): number => (r.cpuMs * 1e6) / r.delivered;
const line = (name: string, r: PathResult): string =>
  `${name} cpu_ms=${r.cpuMs.toFixed(0)} delivered=${r.delivered} ns_per_delivered=${ns(r).toFixed(0)}`;
console.log(line('stream  ', stream));
console.log(line('baseline', baseline));
console.log(
  `bench:ws:path clients=${CLIENTS} ns_per_delivered=${ns(stream).toFixed(0)} baseline_ns_per_delivered=${ns(baseline).toFixed(0)} ratio=${(ns(stream) / ns(baseline)).toFixed(2)}`,
);
