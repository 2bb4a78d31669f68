/**
 * npm run bench:ws:slow — hub memory while a client refuses to read for a
 * minute. One hub (stream endpoint, in-process bus) and two real ws clients
 * subscribed to the same 5,000 series receiving 50,000 samples/s: one reads,
 * one has paused its socket. The grace period is set above the run length
 * (and the pong timeout) above the run length so the slow client stays
 * connected and its queue must stay bounded by coalescing alone. Prints memory every 5 s; bounded to BENCH_WS_SLOW_S (60) s.
 */
import fastify from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { WebSocket } from 'ws';
import { AdminOnlyAuthorizer, AdminTokenAuthenticator } from '../../hub/api/admin-token.js';
import type { SampleMessage } from '../../hub/bus/bus.js';
import { MemoryBus } from '../../hub/bus/memory-bus.js';
import type { StoredSeries } from '../../hub/store/store.js';
import { registerStreamRoute } from '../../hub/stream/route.js';

const durationS = Number(process.env.BENCH_WS_SLOW_S ?? 60);
const seriesCount = 5000;
const token = 'slow-bench-token';
const registry = new Registry();
const bus = new MemoryBus();
const app = fastify({ logger: false });
const hub = await registerStreamRoute(app, {
  bus,
  authenticator: new AdminTokenAuthenticator(token),
  authorizer: new AdminOnlyAuthorizer(),
  logger: pino({ level: 'warn' }),
  registry,
  // Neither the grace period nor the heartbeat (a paused client cannot answer
  // pings either) may end the slow client during the run.
  config: { slowConsumerGraceMs: (durationS + 60) * 1000, pongTimeoutMs: (durationS + 60) * 1000 },
});
await app.listen({ host: '127.0.0.1', port: 0 });
const url = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}/api/v1/stream`;

async function client(): Promise<{ ws: WebSocket; received: () => number }> {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  let samples = 0;
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString()) as { subs?: { s?: { samples?: unknown[] } } };
    samples += m.subs?.s?.samples?.length ?? 0;
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(JSON.stringify({ type: 'subscribe', id: 's', stream: 'samples', selector: { cluster: 'c1' } }));
  return { ws, received: () => samples };
}
const fast = await client();
const slow = await client();
await new Promise((r) => setTimeout(r, 200));
slow.ws.pause();

const series: StoredSeries[] = Array.from({ length: seriesCount }, (_, i) => ({
  id: i + 1,
  cluster: 'c1',
  node: `node-${i % 100}`,
  source: 'gpu',
  entity: `GPU-${i % 8}`,
  metric: 'gpu_power_watts',
  labels: { gpu: String(i % 8) },
  kind: 'gauge',
}));
const publisher = setInterval(() => {
  const now = Date.now();
  const samples: SampleMessage[] = series.map((s) => ({
    series: s,
    timestampsMs: [now],
    values: [Math.random() * 700],
  }));
  bus.publish({ cluster: 'c1', samples, events: [] });
}, 100);

const mb = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;
const rows: { t: number; heap: number; rss: number; external: number }[] = [];
const started = Date.now();
console.log('t_s  heap_used_mb  external_mb  rss_mb  fast_client_samples');
while (Date.now() - started < durationS * 1000) {
  await new Promise((r) => setTimeout(r, 5000));
  // Measure live memory, not garbage awaiting collection (the npm script passes --expose-gc).
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  const row = {
    t: Math.round((Date.now() - started) / 1000),
    heap: mb(m.heapUsed),
    rss: mb(m.rss),
    external: mb(m.external),
  };
  rows.push(row);
  console.log(`${row.t}  ${row.heap}  ${row.external}  ${row.rss}  ${fast.received()}`);
}
clearInterval(publisher);
const coalesced = (await registry.getSingleMetricAsString('aiops_stream_samples_coalesced_total'))
  .split(' ')
  .pop();
const slowOpen = slow.ws.readyState === WebSocket.OPEN && hub.connectionCount === 2;
// Skip the first 10 s (JIT, first frames) when judging flatness.
const settled = rows.filter((r) => r.t >= 10);
const heapMax = Math.max(...settled.map((r) => r.heap));
const heapMin = Math.min(...settled.map((r) => r.heap));
const rssFirst = settled[0]?.rss ?? 0;
const rssLast = settled[settled.length - 1]?.rss ?? 0;
fast.ws.terminate();
slow.ws.terminate();
await app.close();
console.log(
  `bench:ws:slow duration_s=${durationS} slow_client_open=${slowOpen} coalesced=${coalesced} ` +
    `heap_min_mb=${heapMin} heap_max_mb=${heapMax} rss_first_mb=${rssFirst} rss_last_mb=${rssLast}`,
);
