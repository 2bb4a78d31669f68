/**
 * A minimal protobuf wire-format reader for the ingest hot path.
 *
 * The generated ts-proto decoders turn every int64 into a bigint/string and
 * back, and push every sample into a JS array; at hundreds of thousands of
 * samples per second that dominates the hub's CPU. This reader decodes varints
 * straight into JS numbers and lets the batch decoder fill typed arrays.
 * Every read is bounds-checked: malformed input throws WireError, never reads
 * past the buffer.
 */

export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

const TWO_POW_32 = 4294967296;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export class WireReader {
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint that must fit 32 bits (tags, lengths, uint32 fields). */
  uint32(): number {
    const { buf, end } = this;
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= end) throw new WireError('truncated varint');
      const b = buf[this.pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (result > 0xffffffff) {
          // uint32 fields may be sent as 64-bit varints by some encoders: keep the low 32 bits as protobuf does.
          return result % TWO_POW_32;
        }
        return result;
      }
    }
    // Longer varints are legal for uint32 fields (protobuf truncates); consume the rest.
    this.skipVarintTail();
    return result % TWO_POW_32;
  }

  /**
   * A 64-bit varint as a JS number. Signed (int64, two's complement) when
   * `signed`; values beyond ±2^53 lose precision, which callers treat as
   * out of range anyway (timestamps) or reject (sequence numbers).
   */
  int64(signed: boolean): number {
    const { buf, end } = this;
    let lo = 0;
    let hi = 0;
    let b = 0;
    let i = 0;
    for (; i < 4; i++) {
      if (this.pos >= end) throw new WireError('truncated varint');
      b = buf[this.pos++]!;
      lo |= (b & 0x7f) << (i * 7);
      if ((b & 0x80) === 0) return lo >>> 0;
    }
    if (this.pos >= end) throw new WireError('truncated varint');
    b = buf[this.pos++]!;
    lo |= (b & 0x7f) << 28;
    hi = (b & 0x7f) >> 4;
    if ((b & 0x80) !== 0) {
      for (i = 0; i < 5; i++) {
        if (this.pos >= end) throw new WireError('truncated varint');
        b = buf[this.pos++]!;
        hi |= (b & 0x7f) << (i * 7 + 3);
        if ((b & 0x80) === 0) break;
      }
      if ((b & 0x80) !== 0) throw new WireError('varint longer than 10 bytes');
    }
    return signed ? (hi | 0) * TWO_POW_32 + (lo >>> 0) : (hi >>> 0) * TWO_POW_32 + (lo >>> 0);
  }

  private view: DataView | undefined;

  double(): number {
    if (this.pos + 8 > this.end) throw new WireError('truncated double');
    this.view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /**
   * Copies `count` packed little-endian doubles into out[at..]: one memcpy
   * into an aligned buffer on little-endian hosts instead of a read per value.
   */
  packedDoubles(out: Float64Array, at: number, count: number): void {
    const bytes = count * 8;
    if (this.pos + bytes > this.end) throw new WireError('truncated packed doubles');
    if (LITTLE_ENDIAN) {
      const aligned = new Uint8Array(bytes);
      aligned.set(this.buf.subarray(this.pos, this.pos + bytes));
      out.set(new Float64Array(aligned.buffer), at);
      this.pos += bytes;
    } else {
      for (let i = 0; i < count; i++) out[at + i] = this.double();
    }
  }

  /** Reads a length prefix and returns the end offset of the delimited field. */
  delimitedEnd(): number {
    const len = this.uint32();
    const fieldEnd = this.pos + len;
    if (fieldEnd > this.end) throw new WireError('length-delimited field runs past the end of its message');
    return fieldEnd;
  }

  /** Skips one field value of the given wire type. */
  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.int64(false);
        return;
      case 1:
        this.advance(8);
        return;
      case 2:
        this.pos = this.delimitedEnd();
        return;
      case 5:
        this.advance(4);
        return;
      default:
        // Groups (3, 4) are not part of proto3; anything else is garbage.
        throw new WireError(`unsupported wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new WireError('truncated fixed-width field');
    this.pos += n;
  }

  private skipVarintTail(): void {
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) throw new WireError('truncated varint');
      if ((this.buf[this.pos++]! & 0x80) === 0) return;
    }
    throw new WireError('varint longer than 10 bytes');
  }
}

/** Number of varints in a packed run: one per byte with the continuation bit clear. */
export function countPackedVarints(buf: Uint8Array, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) if ((buf[i]! & 0x80) === 0) n++;
  return n;
}
