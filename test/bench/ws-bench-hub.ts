/**
 * bench:ws hub (child process): real gRPC ingest (hub/ingest) over the
 * in-memory store stand-in, the in-process bus, and either the stream
 * endpoint (mode "stream") or a plain `ws` server as the baseline (mode
 * "baseline"): no auth, no RBAC, no backpressure, and one frame per client
 * per ingest batch that carries any of its series — what a straightforward
 * implementation does. Usage: ws-bench-hub.ts <stream|baseline>.
 */
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import fastify from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import { AdminOnlyAuthorizer, AdminTokenAuthenticator } from '../../hub/api/admin-token.js';
import type { BusBatch } from '../../hub/bus/bus.js';
import { MemoryBus } from '../../hub/bus/memory-bus.js';
import { createIngestServer } from '../../hub/ingest/server.js';
import { MemoryStore } from '../../hub/ingest/testing/memory-store.js';
import { registerStreamRoute } from '../../hub/stream/route.js';
import { compileSelector, type CompiledSelector } from '../../hub/stream/selector.js';
import type { Selector } from '../../hub/stream/protocol.js';
import type { SampleMessage } from '../../hub/bus/bus.js';
import { AGENTS, CLUSTER, LatencyHistogram, SERIES_PER_AGENT, benchSeries } from './ws-bench-shape.js';

const mode = process.argv[2];
if (mode !== 'stream' && mode !== 'baseline') throw new Error('usage: ws-bench-hub.ts <stream|baseline>');

const logger = pino({ level: 'warn' }, pino.destination(2));
const registry = new Registry();
const store = new MemoryStore();
// The stand-in store keeps rows in arrays; empty them so its memory does not distort the hub's figures.
setInterval(() => {
  store.samples.length = 0;
  store.eventRows.length = 0;
}, 1000).unref();
const bus = new MemoryBus({ logger });
const ingest = createIngestServer({ store, bus, logger, registry });
const grpcPort = await ingest.start('127.0.0.1:0');
const { token: agentToken } = await store.enrollmentTokens.create(CLUSTER, 'bench');
const adminToken = 'bench-admin-token';

let wsPort: number;
if (mode === 'stream') {
  const app = fastify({ logger: false });
  await registerStreamRoute(app, {
    bus,
    authenticator: new AdminTokenAuthenticator(adminToken),
    authorizer: new AdminOnlyAuthorizer(),
    logger,
    registry,
    config: { maxRateHz: 10 },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  wsPort = (app.server.address() as { port: number }).port;
} else {
  wsPort = await startBaseline();
}
process.send!({ type: 'ready', grpcPort, wsPort, agentToken, adminToken });

// Where the latency goes: the age of each batch when the bus hands it to
// subscribers (ingest and event-loop backlog), apart from delivery.
const busLag = new LatencyHistogram();
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
bus.subscribe('*', (batch) => {
  const ts = batch.samples[0]?.timestampsMs[0];
  if (ts !== undefined) busLag.record(Date.now() - ts);
});

let mark = { cpu: process.cpuUsage(), atMs: performance.now() };
let maxRssBytes = 0;
/** Samples published by publishDirectly since the last reset. */
let directSent = 0;
setInterval(() => {
  maxRssBytes = Math.max(maxRssBytes, process.memoryUsage().rss);
}, 500).unref();
process.on('message', async (m: { type: string }) => {
  if (m.type === 'load') {
    publishDirectly();
  } else if (m.type === 'reset') {
    mark = { cpu: process.cpuUsage(), atMs: performance.now() };
    maxRssBytes = 0;
    directSent = 0;
    busLag.reset();
    loopDelay.reset();
  } else if (m.type === 'report') {
    const cpu = process.cpuUsage(mark.cpu);
    const wallMs = performance.now() - mark.atMs;
    const metric = async (name: string): Promise<number> => {
      const text = (await registry.getSingleMetricAsString(name).catch(() => '')) ?? '';
      return text
        .split('\n')
        .filter((l) => l.startsWith(name))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    };
    process.send!({
      type: 'report',
      cpuPercent: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
      directSentPerS: (directSent / wallMs) * 1000,
      maxRssMb: maxRssBytes / 2 ** 20,
      busLagP99Ms: busLag.percentiles().p99,
      loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
      framesSent: await metric('aiops_stream_frames_sent_total'),
      coalesced: await metric('aiops_stream_samples_coalesced_total'),
      downsampled: await metric('aiops_stream_samples_downsampled_total'),
    });
  }
});
process.on('disconnect', () => process.exit(0));
// Exit normally on SIGTERM too, so --cpu-prof (BENCH_WS_HUB_NODE_OPTIONS) writes its profile.
process.on('SIGTERM', () => process.exit(0));

/**
 * BENCH_WS_INGEST=bus: the same workload published straight onto the bus
 * from this process (no gRPC, no load-generator process), isolating the
 * streaming path. Series ids are assigned here as the store would.
 */
function publishDirectly(): void {
  const agents = benchSeries();
  let turn = 0;
  const startedMs = performance.now();
  const send = (): void => {
    const now = Date.now();
    const samples: SampleMessage[] = agents[turn % AGENTS]!.map((series) => ({
      series,
      timestampsMs: [now],
      values: [Math.random() * 100],
    }));
    bus.publish({ cluster: CLUSTER, samples, events: [] });
    turn++;
    directSent += SERIES_PER_AGENT;
    setTimeout(send, Math.max(0, startedMs + (turn * 1000) / AGENTS - performance.now()));
  };
  send();
}

/** The baseline: a plain ws server fed by the same bus. */
async function startBaseline(): Promise<number> {
  const server = createServer();
  const wss = new WebSocketServer({ server });
  const clients = new Map<WebSocket, { selector: CompiledSelector; wants: Map<number, boolean> }>();
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as { type: string; id: string; selector: Selector };
      if (msg.type !== 'subscribe') return;
      clients.set(ws, { selector: compileSelector(msg.selector), wants: new Map() });
      ws.send(JSON.stringify({ type: 'ack', op: 'subscribe', id: msg.id }));
    });
    ws.on('close', () => clients.delete(ws));
  });
  bus.subscribe('*', (batch: BusBatch) => {
    for (const [ws, client] of clients) {
      let tuples = '';
      for (const s of batch.samples) {
        let wanted = client.wants.get(s.series.id);
        if (wanted === undefined) {
          wanted = client.selector.matchesSeries(s.series);
          client.wants.set(s.series.id, wanted);
        }
        if (!wanted) continue;
        for (let i = 0; i < s.values.length; i++) {
          tuples += `${tuples ? ',' : ''}[${s.series.id},${s.timestampsMs[i]},${s.values[i]}]`;
        }
      }
      if (tuples) ws.send(`{"type":"data","subs":{"s":{"samples":[${tuples}]}}}`);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}
