/**
 * Encoder for PostgreSQL's binary COPY format (PGCOPY), specialised to the
 * samples table (series_id int4, ts timestamptz, value float8). Layout, all
 * big-endian: 11-byte signature, int32 flags, int32 header-extension length;
 * per row an int16 field count then, per field, an int32 byte length and the
 * value; an int16 -1 trailer. timestamptz is int64 microseconds since
 * 2000-01-01 00:00 UTC. One Buffer per batch: no per-row allocation.
 */

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER_BYTES = SIGNATURE.length + 4 + 4;
/** int16 count + (int32 len + int32) + (int32 len + int64) + (int32 len + float8). */
export const SAMPLE_ROW_BYTES = 2 + 4 + 4 + 4 + 8 + 4 + 8;
/** 2000-01-01T00:00:00Z in Unix milliseconds: PostgreSQL's timestamp epoch. */
const PG_EPOCH_MS = 946_684_800_000;
const TWO_POW_32 = 4_294_967_296;

/** Columnar sample rows, as batches carry them. */
export interface SampleColumns {
  readonly seriesIds: ArrayLike<number>;
  readonly timestampsMs: ArrayLike<number>;
  readonly values: ArrayLike<number>;
}

/** Total rows of several column sets. */
export function countRows(parts: readonly SampleColumns[]): number {
  let n = 0;
  for (const p of parts) n += p.seriesIds.length;
  return n;
}

/** Encodes the rows of all parts, in order, into one PGCOPY buffer. */
export function encodeSamplesBinary(parts: readonly SampleColumns[]): Buffer {
  const rows = countRows(parts);
  const buf = Buffer.allocUnsafe(HEADER_BYTES + rows * SAMPLE_ROW_BYTES + 2);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  SIGNATURE.copy(buf, 0);
  let o = SIGNATURE.length;
  view.setInt32(o, 0); // flags: no OIDs
  view.setInt32(o + 4, 0); // no header extension
  o += 8;
  for (const p of parts) {
    const n = p.seriesIds.length;
    for (let i = 0; i < n; i++) {
      // Microseconds fit a double exactly for any realistic date (< 2^53),
      // so split into two 32-bit halves instead of allocating a BigInt.
      const micros = Math.round(((p.timestampsMs[i] as number) - PG_EPOCH_MS) * 1000);
      const hi = Math.floor(micros / TWO_POW_32);
      view.setInt16(o, 3);
      view.setInt32(o + 2, 4);
      view.setInt32(o + 6, p.seriesIds[i] as number);
      view.setInt32(o + 10, 8);
      view.setInt32(o + 14, hi);
      view.setUint32(o + 18, micros - hi * TWO_POW_32);
      view.setInt32(o + 22, 8);
      view.setFloat64(o + 26, p.values[i] as number);
      o += SAMPLE_ROW_BYTES;
    }
  }
  view.setInt16(o, -1);
  return buf;
}
