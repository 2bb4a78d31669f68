/**
 * bench:ws load generator (child process): AGENTS gRPC ingest streams, one
 * batch per agent per second with all its series, spread evenly over the
 * second (one batch every 10 ms), sample timestamps = send time.
 * Usage: ws-bench-load.ts <grpcAddress> <token>. Reports on IPC.
 */
import { MetricType, TestIngestClient, type TestStream } from '../../hub/codec/test-client.js';
import { AGENTS, CLUSTER, GPUS, METRICS, SERIES_PER_AGENT, metricName } from './ws-bench-shape.js';

const [address, token] = process.argv.slice(2);
if (!address || !token) throw new Error('usage: ws-bench-load.ts <grpcAddress> <token>');

const client = new TestIngestClient(address);
interface Agent {
  stream: TestStream;
  sequence: number;
  acked: number;
  /** Unacked batches the hub allows (Welcome.window). */
  window: number;
}
const agents: Agent[] = [];
const defs = Array.from({ length: SERIES_PER_AGENT }, (_, i) => {
  const gpu = i % GPUS;
  const metric = Math.floor(i / GPUS) % METRICS;
  return {
    ref: i + 1,
    metric: metricName(metric),
    source: 'gpu',
    entity: `GPU-${gpu}`,
    labels: [{ name: 'gpu', value: String(gpu) }],
    type: MetricType.METRIC_TYPE_GAUGE,
  };
});

for (let a = 0; a < AGENTS; a++) {
  const stream = client.stream(token);
  stream.hello({ agentId: `bench-agent-${a}`, cluster: CLUSTER, node: `node-${a}`, version: 'bench/0' });
  const welcome = await stream.next();
  if (welcome.msg?.$case !== 'welcome') throw new Error(`agent ${a}: no welcome`);
  const { lastAckedSequence, window } = welcome.msg.welcome;
  const agent: Agent = { stream, sequence: lastAckedSequence, acked: lastAckedSequence, window };
  stream.call.on('data', (m: { msg?: { $case: string; ack?: { sequence: number } } }) => {
    if (m.msg?.$case === 'ack' && m.msg.ack) agent.acked = Math.max(agent.acked, m.msg.ack.sequence);
  });
  agents.push(agent);
}

let sent = 0;
let skipped = 0;
let turn = 0;
const intervalMs = 1000 / AGENTS;
const started = performance.now();
const refs = defs.map((d) => d.ref);
function sendNext(): void {
  const agent = agents[turn % AGENTS]!;
  const first = turn < AGENTS;
  turn++;
  // Respect the ingest window; a batch that would exceed it is skipped and counted, not queued.
  if (agent.sequence - agent.acked >= agent.window && !first) {
    skipped++;
  } else {
    const now = Date.now();
    agent.sequence++;
    agent.stream.batch({
      sequence: agent.sequence,
      series: first ? defs : [],
      samples: refs.map((ref) => ({ ref, timestampsMs: [now], values: [Math.random() * 100] })),
    });
    sent += SERIES_PER_AGENT;
  }
  // Drift-free schedule: the n-th batch goes at started + n × interval.
  const delay = started + turn * intervalMs - performance.now();
  setTimeout(sendNext, Math.max(0, delay));
}
process.send!({ type: 'ready' });
sendNext();
setInterval(() => {
  const cpu = process.cpuUsage();
  process.send!({ type: 'stats', sent, skipped, cpuMs: (cpu.user + cpu.system) / 1000 });
}, 1000);
process.on('disconnect', () => process.exit(0));
