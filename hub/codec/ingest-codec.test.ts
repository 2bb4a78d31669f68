import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { StreamRequest } from '../../proto/gen/aiops/v1/ingest.js';
import { decodePushRequest, decodeStreamRequest, WireError } from './ingest-codec.js';

function encode(req: StreamRequest): Uint8Array {
  return StreamRequest.encode(req).finish();
}

describe('decodeStreamRequest', () => {
  it('decodes a batch into columnar arrays equal to what the generated decoder sees', () => {
    const batch = {
      sequence: 2 ** 40,
      droppedBefore: 3,
      series: [
        { ref: 1, metric: 'm', source: 'gpu', entity: 'e', labels: [{ name: 'a', value: 'b' }], type: 2 },
      ],
      samples: [
        { ref: 1, timestampsMs: [1_700_000_000_123, -5, 0], values: [1.5, -0, Number.NaN] },
        { ref: 4_000_000_000, timestampsMs: [2 ** 52], values: [Number.POSITIVE_INFINITY, 7] },
      ],
      events: [
        { timestampMs: 9, kind: 'k', severity: 3, source: 's', entity: '', message: 'm', attributes: [] },
      ],
      inventory: [
        {
          observedMs: 1,
          source: 's',
          entity: 'e',
          kind: 'gpu',
          attributes: [],
          absent: true,
          absentReason: 'r',
        },
      ],
    };
    const d = decodeStreamRequest(encode({ msg: { $case: 'batch', batch } }));
    if (d.kind !== 'batch') throw new Error('expected a batch');
    const b = d.batch;
    expect(b.sequence).toBe(2 ** 40);
    expect(b.droppedBefore).toBe(3);
    expect(b.series[0]).toMatchObject({
      ref: 1,
      metric: 'm',
      type: 'counter',
      labels: [{ name: 'a', value: 'b' }],
    });
    expect(b.chunkCount).toBe(2);
    expect([...b.chunkRefs]).toEqual([1, 4_000_000_000]);
    expect([...b.tsCount]).toEqual([3, 1]);
    expect([...b.valCount]).toEqual([3, 2]);
    expect([...b.timestampsMs]).toEqual([1_700_000_000_123, -5, 0, 2 ** 52]);
    expect(Array.from(b.values).map(String)).toEqual(['1.5', '0', 'NaN', 'Infinity', '7']);
    expect(b.events[0]).toMatchObject({ severity: 'error', kind: 'k' });
    expect(b.inventory[0]).toMatchObject({ absent: true, absentReason: 'r' });
  });

  it('accepts unpacked repeated fields, as protobuf parsers must', () => {
    // SeriesSamples{ref:5, timestamps_ms: 10 (unpacked), values: 2.5 (unpacked)} inside Batch{sequence:1}.
    const ss = new BinaryWriter()
      .uint32(8)
      .uint32(5)
      .uint32(16)
      .int64(10)
      .uint32(16)
      .int64(11)
      .uint32(25)
      .double(2.5)
      .uint32(25)
      .double(3.5)
      .finish();
    const batch = new BinaryWriter().uint32(8).uint64(1).uint32(34).bytes(ss).finish();
    const req = new BinaryWriter().uint32(18).bytes(batch).finish();
    const d = decodeStreamRequest(req);
    if (d.kind !== 'batch') throw new Error('expected a batch');
    expect([...d.batch.timestampsMs]).toEqual([10, 11]);
    expect([...d.batch.values]).toEqual([2.5, 3.5]);
  });

  it('skips unknown fields (forward compatibility)', () => {
    const hello = new BinaryWriter()
      .uint32(10)
      .string('a1')
      .uint32(18)
      .string('c1')
      .uint32(800)
      .uint32(7)
      .finish();
    const req = new BinaryWriter()
      .uint32(10)
      .bytes(hello)
      .uint32(99 << 3)
      .uint32(1)
      .finish();
    expect(decodeStreamRequest(req)).toMatchObject({
      kind: 'hello',
      hello: { agentId: 'a1', cluster: 'c1' },
    });
  });

  it('reports an empty message as empty', () => {
    expect(decodeStreamRequest(new Uint8Array())).toEqual({ kind: 'empty' });
  });

  it.each([
    ['truncated length', Uint8Array.from([0x12, 0x10, 0x08])],
    [
      'varint that never ends',
      Uint8Array.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    ],
    ['group wire type', Uint8Array.from([0x0b])],
    ['field number 0', Uint8Array.from([0x00, 0x01])],
    ['packed values not a multiple of 8', Uint8Array.from([0x12, 0x06, 0x22, 0x04, 0x1a, 0x02, 0x00, 0x00])],
    ['random bytes', Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03])],
  ])('throws WireError on %s', (_name, bytes) => {
    expect(() => decodeStreamRequest(bytes)).toThrow(WireError);
  });

  it('never throws anything but WireError on random input', () => {
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const valid = encode({
      msg: {
        $case: 'batch',
        batch: {
          sequence: 1,
          droppedBefore: 0,
          series: [],
          samples: [{ ref: 1, timestampsMs: [1, 2], values: [1, 2] }],
          events: [],
          inventory: [],
        },
      },
    });
    for (let i = 0; i < 2000; i++) {
      const bytes = Uint8Array.from(valid);
      bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      try {
        decodeStreamRequest(bytes);
      } catch (err) {
        expect(err).toBeInstanceOf(WireError);
      }
    }
  });
});

describe('decodePushRequest', () => {
  it('decodes hello and batch, either of which may be missing', () => {
    expect(decodePushRequest(new Uint8Array())).toEqual({ hello: undefined, batch: undefined });
  });
});
