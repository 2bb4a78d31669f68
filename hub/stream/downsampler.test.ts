import { describe, expect, it } from 'vitest';
import type { StoredSeries } from '../store/store.js';
import { Downsampler } from './downsampler.js';

const series = (id: number): StoredSeries => ({
  id,
  cluster: 'c',
  node: 'n',
  source: 'gpu',
  entity: 'e',
  metric: 'm',
  labels: {},
  kind: 'gauge',
});

function make(aggregation: 'latest' | 'avg', maxSeries = 10) {
  const out: [number, number, number][] = [];
  const d = new Downsampler(100, aggregation, maxSeries, (s, t, v) => out.push([s.series.id, t, v]));
  return { d, out };
}

describe('Downsampler', () => {
  it('passes a point through at once when its series has not emitted within the interval', () => {
    const { d, out } = make('latest');
    expect(d.offer(series(1), [1], [10], 1000)).toBe(0);
    expect(d.offer(series(1), [2], [20], 1100)).toBe(0);
    expect(out).toEqual([
      [1, 1, 10],
      [1, 2, 20],
    ]);
  });

  it('folds points within the interval into the latest value, emitted when the interval has passed', () => {
    const { d, out } = make('latest');
    d.offer(series(1), [1, 2, 3, 4], [10, 20, 30, 40], 1000);
    expect(out).toEqual([[1, 1, 10]]);
    d.tick(1050);
    expect(out).toHaveLength(1);
    d.tick(1100);
    expect(out).toEqual([
      [1, 1, 10],
      [1, 4, 40],
    ]);
  });

  it('averages with the last timestamp under avg and reports how many points it folded', () => {
    const { d, out } = make('avg');
    expect(d.offer(series(1), [1, 2, 3, 4], [10, 20, 30, 40], 1000)).toBe(2);
    d.tick(2000);
    expect(out[1]).toEqual([1, 4, 30]);
  });

  it('refuses series beyond maxSeries (-1) and keeps tracking the others', () => {
    const { d, out } = make('latest', 1);
    d.offer(series(1), [1], [1], 0);
    expect(d.offer(series(2), [1], [1], 0)).toBe(-1);
    expect(d.seriesCount).toBe(1);
    expect(out).toEqual([[1, 1, 1]]);
  });
});
