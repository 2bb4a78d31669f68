import { crc32 } from 'node:zlib';

/**
 * One spool record on disk (docs/spool-format.md):
 *
 *   magic u32 | payload length u32 | crc32 u32 | sequence u64 | samples u32 | payload
 *
 * little endian; the CRC-32 (IEEE, zlib's) covers everything after itself:
 * sequence, samples and payload, so a flipped sequence is caught like a
 * flipped payload byte.
 */
export const RECORD_MAGIC = 0x31505341; // "ASP1" on disk (little endian)
export const HEADER_BYTES = 24;
const MAGIC_BYTES = Buffer.from([0x41, 0x53, 0x50, 0x31]);

export interface DecodedRecord {
  readonly sequence: number;
  readonly samples: number;
  readonly payload: Buffer;
  /** Byte offset of the header within its segment. */
  readonly offset: number;
  /** Header plus payload. */
  readonly sizeBytes: number;
}

export interface CorruptRegion {
  readonly offset: number;
  readonly bytes: number;
  /** `torn_tail` when the region runs to the end of the file (an interrupted write). */
  readonly reason: 'crc_mismatch' | 'bad_header' | 'torn_tail';
}

export function encodeRecord(sequence: number, samples: number, payload: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  buf.writeUInt32LE(RECORD_MAGIC, 0);
  buf.writeUInt32LE(payload.length, 4);
  buf.writeBigUInt64LE(BigInt(sequence), 12);
  buf.writeUInt32LE(samples, 20);
  buf.set(payload, HEADER_BYTES);
  buf.writeUInt32LE(crc32(buf.subarray(12)), 8);
  return buf;
}

/** Tries to read a valid record at `offset`; undefined when there is none. */
function recordAt(buf: Buffer, offset: number, maxPayloadBytes: number): DecodedRecord | undefined {
  if (offset + HEADER_BYTES > buf.length) return undefined;
  if (buf.readUInt32LE(offset) !== RECORD_MAGIC) return undefined;
  const length = buf.readUInt32LE(offset + 4);
  if (length > maxPayloadBytes || offset + HEADER_BYTES + length > buf.length) return undefined;
  const end = offset + HEADER_BYTES + length;
  if (crc32(buf.subarray(offset + 12, end)) !== buf.readUInt32LE(offset + 8)) return undefined;
  const sequence = Number(buf.readBigUInt64LE(offset + 12));
  return {
    sequence,
    samples: buf.readUInt32LE(offset + 20),
    payload: buf.subarray(offset + HEADER_BYTES, end),
    offset,
    sizeBytes: HEADER_BYTES + length,
  };
}

/**
 * Scans a segment's bytes from `start`: every valid record, and every region
 * that is not one. After a bad region the scan resynchronises on the next
 * offset holding the magic and a record whose length and CRC check out, so
 * one torn or flipped record never hides the records after it.
 */
export function scanRecords(
  buf: Buffer,
  start: number,
  maxPayloadBytes: number,
): { records: DecodedRecord[]; corrupt: CorruptRegion[] } {
  const records: DecodedRecord[] = [];
  const corrupt: CorruptRegion[] = [];
  let offset = start;
  while (offset < buf.length) {
    const rec = recordAt(buf, offset, maxPayloadBytes);
    if (rec) {
      records.push(rec);
      offset += rec.sizeBytes;
      continue;
    }
    const badAt = offset;
    let next = -1;
    let from = offset + 1;
    for (;;) {
      const idx = buf.indexOf(MAGIC_BYTES, from);
      if (idx < 0) break;
      if (recordAt(buf, idx, maxPayloadBytes)) {
        next = idx;
        break;
      }
      from = idx + 1;
    }
    const end = next < 0 ? buf.length : next;
    corrupt.push({ offset: badAt, bytes: end - badAt, reason: classify(buf, badAt, end) });
    if (next < 0) break;
    offset = next;
  }
  return { records, corrupt };
}

/**
 * Why the bytes [offset, end) are not a record: a complete record whose CRC
 * fails, a header that is not one, or (only at the end of a file) a record
 * cut short, which is what a crash in the middle of a write leaves.
 */
function classify(buf: Buffer, offset: number, end: number): CorruptRegion['reason'] {
  if (end - offset < HEADER_BYTES) return end === buf.length ? 'torn_tail' : 'bad_header';
  if (buf.readUInt32LE(offset) !== RECORD_MAGIC) return 'bad_header';
  const recordEnd = offset + HEADER_BYTES + buf.readUInt32LE(offset + 4);
  if (recordEnd > end) return end === buf.length ? 'torn_tail' : 'bad_header';
  return 'crc_mismatch';
}
