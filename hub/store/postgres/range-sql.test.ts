import { describe, expect, it } from 'vitest';
import { pickSource, rangeSql } from './range-sql.js';

const q = { selector: {}, startMs: 90_500, endMs: 300_000, stepMs: 60_000, aggregation: 'avg' as const };

describe('rangeSql', () => {
  it('reads the aggregates only on TimescaleDB and only when the step tiles them', () => {
    expect(pickSource('postgres', 3_600_000)).toBe('samples');
    expect(pickSource('timescaledb', 30_000)).toBe('samples');
    expect(pickSource('timescaledb', 120_000)).toBe('samples_1m');
    expect(pickSource('timescaledb', 7_200_000)).toBe('samples_1h');
    expect(pickSource('timescaledb', 5_400_000)).toBe('samples_1m');
  });

  it('aligns the window to whole steps from the epoch', () => {
    const s = rangeSql('postgres', q);
    expect(s.params).toEqual(['60000 milliseconds', 60_000, 360_000]);
    expect(s.text).toContain('date_bin');
  });

  it('averages aggregate buckets by sum and count, not by averaging averages', () => {
    expect(rangeSql('timescaledb', q).text).toContain('sum(sum) / sum(n)::float8');
  });
});
