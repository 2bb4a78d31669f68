import { describe, expect, it } from 'vitest';
import { SAMPLE_ROW_BYTES, encodeSamplesBinary } from './pgcopy.js';

describe('encodeSamplesBinary', () => {
  it('writes the PGCOPY header, big-endian fields and the trailer', () => {
    // 2000-01-01T00:00:01.5Z is 1,500,000 microseconds after the PostgreSQL epoch.
    const buf = encodeSamplesBinary([{ seriesIds: [7], timestampsMs: [946_684_801_500], values: [2.5] }]);
    expect(buf.length).toBe(19 + SAMPLE_ROW_BYTES + 2);
    expect(buf.subarray(0, 11).toString('latin1')).toBe('PGCOPY\n\xff\r\n\0');
    expect(buf.readInt32BE(11)).toBe(0);
    expect(buf.readInt32BE(15)).toBe(0);
    expect(buf.readInt16BE(19)).toBe(3);
    expect(buf.readInt32BE(21)).toBe(4);
    expect(buf.readInt32BE(25)).toBe(7);
    expect(buf.readInt32BE(29)).toBe(8);
    expect(buf.readBigInt64BE(33)).toBe(1_500_000n);
    expect(buf.readInt32BE(41)).toBe(8);
    expect(buf.readDoubleBE(45)).toBe(2.5);
    expect(buf.readInt16BE(53)).toBe(-1);
  });

  it('encodes timestamps before 2000 and after 2038 exactly', () => {
    const ms = [0, 4_102_444_800_123];
    const buf = encodeSamplesBinary([{ seriesIds: [1, 2], timestampsMs: ms, values: [0, -1] }]);
    const micros = (i: number) => buf.readBigInt64BE(19 + i * SAMPLE_ROW_BYTES + 14);
    expect(micros(0)).toBe(-946_684_800_000_000n);
    expect(micros(1)).toBe((4_102_444_800_123n - 946_684_800_000n) * 1000n);
  });

  it('concatenates several batches into one buffer', () => {
    const a = { seriesIds: [1], timestampsMs: [1_000], values: [1] };
    const b = { seriesIds: [2, 3], timestampsMs: [2_000, 3_000], values: [2, 3] };
    const buf = encodeSamplesBinary([a, b]);
    expect(buf.length).toBe(19 + 3 * SAMPLE_ROW_BYTES + 2);
    expect(buf.readInt32BE(19 + 2 * SAMPLE_ROW_BYTES + 6)).toBe(3);
  });
});
