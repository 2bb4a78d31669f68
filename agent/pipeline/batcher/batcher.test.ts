import { describe, expect, it, vi } from 'vitest';
import type { Collection, Sample } from '../../model/telemetry.js';
import { Batcher } from './batcher.js';

const sample = (value: number): Sample => ({
  series: { metric: 'm', source: 's', entity: '', labels: {}, kind: 'gauge' },
  timestampMs: 1,
  value,
});
const coll = (n: number): Collection => ({
  samples: Array.from({ length: n }, (_, i) => sample(i)),
  events: [],
  inventory: [],
});

describe('Batcher', () => {
  it('flushes when maxSamples is reached', () => {
    const flush = vi.fn();
    const b = new Batcher({ maxSamples: 10, maxBytes: 1 << 20, maxAgeMs: 60_000, flush, onError: vi.fn() });
    b.add(coll(6));
    expect(flush).not.toHaveBeenCalled();
    b.add(coll(6));
    expect(flush).toHaveBeenCalledTimes(1);
    expect(flush.mock.calls[0]![1]).toBe(12);
    expect(b.pendingSamples).toBe(0);
  });

  it('flushes when the estimated size reaches maxBytes', () => {
    const flush = vi.fn();
    const b = new Batcher({ maxSamples: 1e9, maxBytes: 1400, maxAgeMs: 60_000, flush, onError: vi.fn() });
    b.add(coll(99));
    expect(flush).not.toHaveBeenCalled();
    b.add(coll(1));
    expect(flush).toHaveBeenCalledTimes(1);
  });

  it('flushes maxAgeMs after the first pending item', async () => {
    vi.useFakeTimers();
    try {
      const flush = vi.fn();
      const b = new Batcher({ maxSamples: 1000, maxBytes: 1 << 20, maxAgeMs: 500, flush, onError: vi.fn() });
      b.add(coll(1));
      await vi.advanceTimersByTimeAsync(499);
      expect(flush).not.toHaveBeenCalled();
      await vi.advanceTimersByTimeAsync(1);
      expect(flush).toHaveBeenCalledTimes(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('ignores empty collections and reports a failed flush with its sample count', () => {
    const onError = vi.fn();
    const b = new Batcher({
      maxSamples: 1,
      maxBytes: 1 << 20,
      maxAgeMs: 10,
      flush: () => {
        throw new Error('disk full');
      },
      onError,
    });
    b.add(coll(0));
    expect(onError).not.toHaveBeenCalled();
    b.add(coll(3));
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'disk full' }), 3);
  });

  it('never exceeds the hard caps (the hub limits): splits large collections, flushes before overflowing', () => {
    const flush = vi.fn();
    const b = new Batcher({ maxSamples: 1000, maxBytes: 1 << 20, maxAgeMs: 60_000, flush, onError: vi.fn() });
    b.setCaps({ maxSamples: 10 });
    const big: Collection = {
      ...coll(25),
      events: [
        {
          timestampMs: 1,
          kind: 'k',
          severity: 'info',
          source: 's',
          entity: '',
          message: 'm',
          attributes: {},
        },
      ],
    };
    b.add(big);
    b.add(coll(4));
    b.add(coll(4));
    b.flush();
    const sizes = flush.mock.calls.map((c) => c[1] as number);
    expect(sizes).toEqual([10, 10, 9, 4]);
    expect(sizes.reduce((a, n) => a + n, 0)).toBe(33);
    // The event travels with the first part only.
    const events = flush.mock.calls.map((c) => (c[0] as Collection[]).flatMap((x) => x.events).length);
    expect(events).toEqual([1, 0, 0, 0]);
    // Lowering the caps re-splits what is pending.
    b.add(coll(8));
    b.setCaps({ maxSamples: 5 });
    b.flush();
    expect(flush.mock.calls.slice(-2).map((c) => c[1])).toEqual([5, 3]);
    // Caps of 0 (a hub that does not say) remove them.
    b.setCaps({ maxSamples: 0 });
    b.add(coll(25));
    b.flush();
    expect(flush.mock.calls.at(-1)![1]).toBe(25);
  });

  it('with maxAgeMs 0 writes through: one flush right after the code that added, never inside add()', async () => {
    const flush = vi.fn();
    const b = new Batcher({ maxSamples: 1000, maxBytes: 1 << 20, maxAgeMs: 0, flush, onError: vi.fn() });
    b.add(coll(2));
    b.add(coll(3));
    expect(flush).not.toHaveBeenCalled();
    await Promise.resolve();
    expect(flush).toHaveBeenCalledTimes(1);
    expect(flush.mock.calls[0]![1]).toBe(5);
    b.add(coll(1));
    await Promise.resolve();
    expect(flush).toHaveBeenCalledTimes(2);
  });
});
