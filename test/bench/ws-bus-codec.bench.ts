/**
 * npm run bench:ws:codec — CPU and bytes per sample of the Redis bus payload
 * (hub/bus/bus-codec.ts) for an agent-sized batch of 500 samples with full
 * series identities. CPU time, not wall time, so other load on the machine
 * disturbs it less.
 */
import { decodeBusBatch, encodeBusBatch } from '../../hub/bus/bus-codec.js';
import type { BusBatch } from '../../hub/bus/bus.js';

const SAMPLES = 500;
const ROUNDS = 400;
const batch: BusBatch = {
  cluster: 'bench',
  samples: Array.from({ length: SAMPLES }, (_, i) => ({
    series: {
      id: 100_000 + i,
      cluster: 'bench',
      node: 'node-17',
      source: 'gpu',
      entity: `GPU-${i % 10}`,
      metric: `bench_gpu_metric_${i % 50}`,
      labels: { gpu: String(i % 10) },
      kind: 'gauge',
    },
    timestampsMs: [Date.now()],
    values: [Math.random() * 100],
  })),
  events: [],
};
for (let i = 0; i < 50; i++) decodeBusBatch(encodeBusBatch('warmup', batch));
const cpuUs = (u: NodeJS.CpuUsage): number => u.user + u.system;
let payload = '';
let mark = process.cpuUsage();
for (let i = 0; i < ROUNDS; i++) payload = encodeBusBatch('3f1c0f8e-replica', batch);
const encodeUs = cpuUs(process.cpuUsage(mark)) / (ROUNDS * SAMPLES);
mark = process.cpuUsage();
for (let i = 0; i < ROUNDS; i++) decodeBusBatch(payload);
const decodeUs = cpuUs(process.cpuUsage(mark)) / (ROUNDS * SAMPLES);
const baseline = JSON.stringify(batch);
mark = process.cpuUsage();
for (let i = 0; i < ROUNDS; i++) JSON.parse(baseline);
const parseUs = cpuUs(process.cpuUsage(mark)) / (ROUNDS * SAMPLES);
console.log(
  `bench:ws:codec bytes_per_sample=${(payload.length / SAMPLES).toFixed(0)} encode_us=${encodeUs.toFixed(2)} ` +
    `decode_us=${decodeUs.toFixed(2)} baseline_json_parse_us=${parseUs.toFixed(2)}`,
);
