import { describe, expect, it } from 'vitest';
import { MetricType, Severity } from '../../../proto/gen/aiops/v1/ingest.js';
import { decodeBatch, encodeBatchMessage, type Batch } from '../../encode/batch.js';
import { splitBatch, type SplitCaps } from './split.js';

const NONE: SplitCaps = {
  maxSamples: Infinity,
  maxEvents: Infinity,
  maxInventory: Infinity,
  maxBytes: Infinity,
};
const def = (ref: number) => ({
  ref,
  metric: `m${ref}`,
  source: 'test',
  entity: 'e',
  labels: [],
  type: MetricType.METRIC_TYPE_GAUGE,
});
const batch: Batch = {
  sequence: 5,
  droppedBefore: 0,
  series: [def(1), def(2)],
  samples: [
    { ref: 1, timestampsMs: [1, 2, 3, 4, 5], values: [10, 20, 30, 40, 50] },
    { ref: 2, timestampsMs: [1, 2, 3], values: [1, 2, 3] },
  ],
  events: [1, 2, 3].map((i) => ({
    timestampMs: i,
    kind: 'k',
    severity: Severity.SEVERITY_INFO,
    source: 'test',
    entity: `e${i}`,
    message: 'x'.repeat(100),
    attributes: [],
  })),
  inventory: [],
};
const payload = encodeBatchMessage(batch);

/** What the pieces hold together, per ref, and their events, in order. */
const contents = (pieces: Batch[]) => ({
  samples: pieces
    .flatMap((p) => p.samples)
    .reduce<Record<number, number[]>>(
      (acc, s) => ({ ...acc, [s.ref]: [...(acc[s.ref] ?? []), ...s.values] }),
      {},
    ),
  events: pieces.flatMap((p) => p.events.map((e) => e.entity)),
});

describe('splitBatch', () => {
  it('leaves a batch within the caps alone', () => {
    expect(splitBatch(payload, NONE)).toBeUndefined();
  });

  it('cuts a batch into self-contained pieces within every cap, in order, losing nothing', () => {
    for (const caps of [
      { ...NONE, maxSamples: 3 },
      { ...NONE, maxEvents: 1 },
      { ...NONE, maxBytes: 200 },
      { ...NONE, maxSamples: 1, maxEvents: 1 },
    ]) {
      const pieces = splitBatch(payload, caps)!;
      expect(pieces.length).toBeGreaterThan(1);
      expect(contents(pieces)).toEqual({
        samples: { 1: [10, 20, 30, 40, 50], 2: [1, 2, 3] },
        events: ['e1', 'e2', 'e3'],
      });
      for (const p of pieces) {
        const n = p.samples.reduce((k, s) => k + s.values.length, 0);
        expect(n).toBeLessThanOrEqual(caps.maxSamples);
        expect(p.events.length).toBeLessThanOrEqual(caps.maxEvents);
        expect(encodeBatchMessage(p).length).toBeLessThanOrEqual(caps.maxBytes);
        // Each piece defines exactly the refs it uses, so it can be sent alone.
        expect(p.series.map((d) => d.ref).sort()).toEqual([...new Set(p.samples.map((s) => s.ref))].sort());
        expect(decodeBatch(encodeBatchMessage(p))).toEqual(p);
      }
    }
  });

  it('gives up when one item alone is over the byte cap', () => {
    expect(splitBatch(payload, { ...NONE, maxBytes: 60 })).toBeUndefined();
  });
});
