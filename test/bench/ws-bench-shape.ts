/**
 * The workload of bench:ws, shared by its processes. 100 agents (nodes) ×
 * 10 GPUs × 50 metrics = 50,000 series, each sampled once a second, so
 * 50,000 samples/s are ingested. Client i watches one metric on five of the
 * ten GPUs across every node: 100 × 5 = 500 series (1 %), and the 1,000
 * selectors are all different (50 metrics × 20 GPU subsets). Each series is
 * watched by ~10 clients, so ~500,000 samples/s are delivered. A client's
 * series come from every agent's batch, which is what makes per-client
 * batching per flush tick matter.
 */
import type { StoredSeries } from '../../hub/store/store.js';

export const CLUSTER = 'bench';
export const AGENTS = 100;
export const GPUS = 10;
export const METRICS = 50;
export const SERIES_PER_AGENT = GPUS * METRICS;

export function metricName(m: number): string {
  return `bench_gpu_metric_${m}`;
}

/**
 * Every agent's series as the store would identify them (ids 1.., agent by
 * agent), for the benches that publish onto the bus without ingest.
 */
export function benchSeries(): StoredSeries[][] {
  let id = 1;
  return Array.from({ length: AGENTS }, (_, a) =>
    Array.from({ length: SERIES_PER_AGENT }, (_, i) => ({
      id: id++,
      cluster: CLUSTER,
      node: `node-${a}`,
      source: 'gpu',
      entity: `GPU-${i % GPUS}`,
      metric: metricName(Math.floor(i / GPUS) % METRICS),
      labels: { gpu: String(i % GPUS) },
      kind: 'gauge' as const,
    })),
  );
}

/** The 5-of-10 GPU subsets in lexicographic order (252 of them). */
function gpuSubsets(): number[][] {
  const out: number[][] = [];
  const pick = (start: number, chosen: number[]): void => {
    if (chosen.length === 5) {
      out.push(chosen);
      return;
    }
    for (let g = start; g < GPUS; g++) pick(g + 1, [...chosen, g]);
  };
  pick(0, []);
  return out;
}
const SUBSETS = gpuSubsets();

/** Selector of client i (distinct for i < 50 × 252). */
export function clientSelector(i: number): {
  cluster: string;
  metric: string;
  matchers: { name: string; op: '=~'; value: string }[];
} {
  const subset = SUBSETS[Math.floor(i / METRICS) % SUBSETS.length]!;
  return {
    cluster: CLUSTER,
    metric: metricName(i % METRICS),
    matchers: [{ name: 'gpu', op: '=~', value: subset.join('|') }],
  };
}

export interface Percentiles {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** 1 ms buckets up to 60 s: recording a latency costs one increment. */
export class LatencyHistogram {
  private readonly buckets = new Uint32Array(60_001);
  count = 0;
  max = 0;

  record(ms: number): void {
    const b = ms < 0 ? 0 : ms > 60_000 ? 60_000 : Math.round(ms);
    this.buckets[b]!++;
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  reset(): void {
    this.buckets.fill(0);
    this.count = 0;
    this.max = 0;
  }

  percentiles(): Percentiles {
    const at = (q: number): number => {
      const target = Math.ceil(this.count * q);
      let seen = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        seen += this.buckets[i]!;
        if (seen >= target && target > 0) return i;
      }
      return Number.NaN;
    };
    return { count: this.count, p50: at(0.5), p99: at(0.99), max: this.max };
  }
}
