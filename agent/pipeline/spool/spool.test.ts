import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { HEADER_BYTES } from './record.js';
import { Spool, type SpoolCorruption, type SpoolDrop, type SpoolOptions } from './spool.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(overrides: Partial<SpoolOptions> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'aiops-spool-'));
  dirs.push(dir);
  const drops: SpoolDrop[] = [];
  const corruptions: SpoolCorruption[] = [];
  const options: SpoolOptions = {
    dir,
    maxBytes: 1024 * 1024,
    segmentMaxBytes: 1024,
    fsync: 'never',
    fsyncIntervalMs: 100,
    maxRecordBytes: 64 * 1024,
    logger: pino({ level: 'silent' }),
    onOverflow: (d) => drops.push(d),
    onCorruption: (c) => corruptions.push(c),
    ...overrides,
  };
  return { dir, drops, corruptions, options, open: () => Spool.open(options) };
}

/** A payload that says which sequence it belongs to, for checking reads. */
const payloadOf = (sequence: number, size = 100) => Buffer.alloc(size, sequence % 251);
const appendN = (spool: Spool, n: number, size = 100) => {
  for (let i = 0; i < n; i++) spool.append((seq) => payloadOf(seq, size), 10);
};

describe('Spool', () => {
  it('assigns sequences from 1 and reads records back in order', () => {
    const { open } = setup();
    const spool = open();
    appendN(spool, 25);
    const recs = spool.readAfter(0, 100);
    expect(recs.map((r) => r.sequence)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    for (const r of recs) expect(Buffer.from(r.payload).equals(payloadOf(r.sequence))).toBe(true);
    expect(spool.readAfter(20, 3).map((r) => r.sequence)).toEqual([21, 22, 23]);
    spool.close();
  });

  it('rotates segments at segmentMaxBytes and deletes them only when acked', () => {
    const { dir, open } = setup();
    const spool = open();
    appendN(spool, 30); // 124 bytes per record, 9 per 1 KiB segment
    const segs = () => readdirSync(dir).filter((n) => n.endsWith('.seg'));
    expect(segs().length).toBe(4);
    spool.ack(17);
    // Segments 1-9 acked, 10-18 still holds 18.
    expect(segs().length).toBe(3);
    expect(readFileSync(join(dir, 'acked'), 'utf8').trim()).toBe('17');
    expect(spool.stats().pendingRecords).toBe(13);
    spool.close();
  });

  it('continues sequences and skips acked data after a restart', () => {
    const { open } = setup();
    let spool = open();
    appendN(spool, 12);
    spool.ack(5);
    spool.close();
    spool = open();
    expect(spool.ackedSequence).toBe(5);
    expect(spool.readAfter(spool.ackedSequence, 100).map((r) => r.sequence)).toEqual([
      6, 7, 8, 9, 10, 11, 12,
    ]);
    expect(spool.append((s) => payloadOf(s), 1)).toBe(13);
    spool.close();
  });

  it('drops the oldest segments at maxBytes and counts exactly what was unacked', () => {
    const { open, drops } = setup({ maxBytes: 4096, segmentMaxBytes: 1024 });
    const spool = open();
    appendN(spool, 33); // 4092 bytes: one more record does not fit in 4096
    spool.ack(3);
    appendN(spool, 1);
    // The oldest segment (1-9) goes; 3 of its records were acked.
    expect(drops).toEqual([{ records: 6, samples: 60, firstSequence: 4, lastSequence: 9, bytes: 9 * 124 }]);
    expect(spool.readAfter(3, 1000)[0]?.sequence).toBe(10);
    expect(spool.stats().bytes).toBeLessThanOrEqual(4096);
    spool.close();
  });

  it('skips a corrupt record, reports it once, and still delivers everything after it', () => {
    const { dir, open, corruptions } = setup({ segmentMaxBytes: 64 * 1024 });
    let spool = open();
    appendN(spool, 10);
    spool.close();
    const seg = join(
      dir,
      readdirSync(dir).find((n) => n.endsWith('.seg'))!,
    );
    const bytes = readFileSync(seg);
    bytes[124 * 4 + HEADER_BYTES + 50] = bytes[124 * 4 + HEADER_BYTES + 50]! ^ 0xff; // a payload byte of record 5
    writeFileSync(seg, bytes);
    spool = open();
    expect(corruptions).toEqual([
      { segment: expect.any(String), offset: 124 * 4, bytes: 124, reason: 'crc_mismatch' },
    ]);
    expect(spool.readAfter(0, 100).map((r) => r.sequence)).toEqual([1, 2, 3, 4, 6, 7, 8, 9, 10]);
    expect(corruptions).toHaveLength(1);
    spool.close();
  });

  it('resynchronises after garbage whose header is unreadable', () => {
    const { dir, open, corruptions } = setup({ segmentMaxBytes: 64 * 1024 });
    let spool = open();
    appendN(spool, 6);
    spool.close();
    const seg = join(
      dir,
      readdirSync(dir).find((n) => n.endsWith('.seg'))!,
    );
    const bytes = readFileSync(seg);
    bytes.fill(0x41, 124 * 2, 124 * 2 + 30); // overwrite record 3's header (and some payload)
    writeFileSync(seg, bytes);
    spool = open();
    expect(corruptions.map((c) => c.reason)).toEqual(['bad_header']);
    expect(spool.readAfter(0, 100).map((r) => r.sequence)).toEqual([1, 2, 4, 5, 6]);
    spool.close();
  });

  it('calls a damaged last record of an older segment a CRC mismatch and leaves the file alone', () => {
    const { dir, open, corruptions } = setup({ segmentMaxBytes: 1024 });
    let spool = open();
    appendN(spool, 12); // segment 1 holds 1-9 (1116 bytes), segment 2 holds 10-12
    spool.close();
    const first = join(
      dir,
      readdirSync(dir)
        .filter((n) => n.endsWith('.seg'))
        .sort()[0]!,
    );
    const bytes = readFileSync(first);
    bytes[bytes.length - 3] = bytes[bytes.length - 3]! ^ 0xff; // inside record 9's payload
    writeFileSync(first, bytes);
    spool = open();
    expect(corruptions).toEqual([
      { segment: expect.any(String), offset: 124 * 8, bytes: 124, reason: 'crc_mismatch' },
    ]);
    expect(statSync(first).size).toBe(124 * 9);
    expect(spool.readAfter(0, 100).map((r) => r.sequence)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12]);
    spool.close();
  });

  it('cuts a torn tail after a crash, reports it and appends after the last valid record', () => {
    const { dir, open, corruptions } = setup({ segmentMaxBytes: 64 * 1024 });
    let spool = open();
    appendN(spool, 5);
    spool.close();
    const seg = join(
      dir,
      readdirSync(dir).find((n) => n.endsWith('.seg'))!,
    );
    truncateSync(seg, 124 * 4 + 30); // record 5 half written
    spool = open();
    expect(corruptions).toEqual([
      { segment: expect.any(String), offset: 496, bytes: 30, reason: 'torn_tail' },
    ]);
    expect(statSync(seg).size).toBe(496);
    expect(spool.append((s) => payloadOf(s), 1)).toBe(5);
    expect(spool.readAfter(0, 100).map((r) => r.sequence)).toEqual([1, 2, 3, 4, 5]);
    spool.close();
  });

  it('refuses a record larger than maxRecordBytes without writing anything', () => {
    const { open } = setup({ maxRecordBytes: 1024 });
    const spool = open();
    expect(() => spool.append(() => Buffer.alloc(2048), 1)).toThrow(/exceeds maxRecordBytes/);
    expect(spool.append((s) => payloadOf(s), 1)).toBe(1);
    spool.close();
  });

  it('treats an unreadable acked file as nothing acked (resending is harmless)', () => {
    const { dir, open } = setup();
    let spool = open();
    appendN(spool, 3);
    spool.close();
    writeFileSync(join(dir, 'acked'), 'garbage');
    spool = open();
    expect(spool.ackedSequence).toBe(0);
    expect(spool.readAfter(0, 10)).toHaveLength(3);
    spool.close();
  });

  it('syncs every record with fsync=always and on a timer with fsync=interval', () => {
    for (const fsync of ['always', 'interval'] as const) {
      const { open } = setup({ fsync });
      const spool = open();
      appendN(spool, 3);
      spool.ack(1);
      spool.close();
      spool.close(); // safe twice
    }
  });

  it('moves the next sequence past a hub that acked more than was written', () => {
    const { open } = setup();
    const spool = open();
    appendN(spool, 2);
    spool.ack(40);
    expect(spool.append((s) => payloadOf(s), 1)).toBe(41);
    spool.close();
  });

  it('dead-letters a refused record: copied with its reason, skipped (also after a restart), bounded', () => {
    const { dir, open } = setup({ deadLetterMaxBytes: 2 * (HEADER_BYTES + 100) });
    let spool = open();
    appendN(spool, 5);
    spool.ack(1);
    expect(spool.deadLetter(1, { code: 'X', message: 'acked already' })).toBeUndefined();
    const dead = spool.deadLetter(3, { code: 'RESOURCE_EXHAUSTED', message: 'too big' });
    expect(dead).toEqual({ sequence: 3, samples: 10, bytes: HEADER_BYTES + 100, evicted: 0, kept: true });
    expect(spool.deadLetter(3, { code: 'X', message: 'twice' })).toBeUndefined();
    expect(spool.readAfter(1, 10).map((r) => r.sequence)).toEqual([2, 4, 5]);
    expect(spool.stats().pendingRecords).toBe(3);
    const dl = join(dir, 'dead-letter');
    expect(readdirSync(dl).sort()).toEqual(['00000000000000000003.json', '00000000000000000003.rec']);
    expect(readFileSync(join(dl, '00000000000000000003.rec')).subarray(HEADER_BYTES)).toEqual(payloadOf(3));
    expect(JSON.parse(readFileSync(join(dl, '00000000000000000003.json'), 'utf8'))).toMatchObject({
      sequence: 3,
      samples: 10,
      code: 'RESOURCE_EXHAUSTED',
      message: 'too big',
    });
    spool.close();
    spool = open();
    expect(spool.readAfter(1, 10).map((r) => r.sequence)).toEqual([2, 4, 5]);
    // The bound keeps the newest two.
    spool.deadLetter(4, { code: 'INVALID_ARGUMENT', message: 'bad' });
    expect(spool.deadLetter(5, { code: 'INVALID_ARGUMENT', message: 'bad' })?.evicted).toBe(1);
    expect(readdirSync(dl).filter((n) => n.endsWith('.rec'))).toEqual([
      '00000000000000000004.rec',
      '00000000000000000005.rec',
    ]);
    expect(spool.readAfter(1, 10).map((r) => r.sequence)).toEqual([2]);
    // The evicted record's reason stays while it is unacked: it keeps 3 skipped.
    expect(readdirSync(dl)).toContain('00000000000000000003.json');
    spool.close();
    spool = open();
    expect(spool.readAfter(1, 10).map((r) => r.sequence)).toEqual([2]);
    // Once acked past, a reason without its record is no longer needed.
    spool.ack(5);
    appendN(spool, 1);
    spool.deadLetter(6, { code: 'INVALID_ARGUMENT', message: 'bad' });
    expect(readdirSync(dl).sort()).toEqual([
      '00000000000000000005.json',
      '00000000000000000005.rec',
      '00000000000000000006.json',
      '00000000000000000006.rec',
    ]);
    spool.close();
  });

  it('keeps a refused record skipped across restarts even when no record file may be kept', () => {
    for (const bound of [0, HEADER_BYTES + 50]) {
      const { dir, open } = setup({ deadLetterMaxBytes: bound });
      let spool = open();
      appendN(spool, 3);
      expect(spool.deadLetter(2, { code: 'INVALID_ARGUMENT', message: 'bad' })).toMatchObject({
        sequence: 2,
        kept: false,
        evicted: 0,
      });
      expect(readdirSync(join(dir, 'dead-letter'))).toEqual(['00000000000000000002.json']);
      expect(spool.deadLetteredUnacked).toBe(1);
      spool.close();
      spool = open();
      expect(spool.readAfter(0, 10).map((r) => r.sequence)).toEqual([1, 3]);
      expect(spool.deadLetteredUnacked).toBe(1);
      spool.ack(3);
      expect(spool.deadLetteredUnacked).toBe(0);
      spool.close();
    }
  });

  it('does not count dead-lettered records again when the spool overflows', () => {
    const { drops, open } = setup({
      maxBytes: 5 * (HEADER_BYTES + 100),
      segmentMaxBytes: HEADER_BYTES + 100,
    });
    const spool = open();
    appendN(spool, 5);
    spool.deadLetter(1, { code: 'INVALID_ARGUMENT', message: 'bad' });
    appendN(spool, 2); // drops segments 1 and 2: only 2 was still to send
    expect(drops).toEqual([
      expect.objectContaining({ records: 1, samples: 10, firstSequence: 2, lastSequence: 2 }),
    ]);
    spool.close();
  });

  it('replaces a record by pieces with new sequences, also after a restart', () => {
    const { dir, open } = setup();
    let spool = open();
    appendN(spool, 3);
    const r = spool.replace(2, [
      { encode: (seq) => payloadOf(seq, 40), samples: 4 },
      { encode: (seq) => payloadOf(seq, 60), samples: 6 },
    ]);
    expect(r).toEqual({ sequence: 2, firstPiece: 4, lastPiece: 5 });
    expect(spool.replace(2, [{ encode: (seq) => payloadOf(seq), samples: 1 }])).toBeUndefined();
    expect(spool.readAfter(0, 10).map((x) => [x.sequence, x.samples])).toEqual([
      [1, 10],
      [3, 10],
      [4, 4],
      [5, 6],
    ]);
    spool.close();
    spool = open();
    expect(spool.readAfter(0, 10).map((x) => x.sequence)).toEqual([1, 3, 4, 5]);
    expect(spool.deadLetteredUnacked).toBe(0);
    spool.ack(2);
    expect(readdirSync(join(dir, 'split'))).toEqual([]);
    spool.close();
  });

  it('undoes a split cut short by a crash, so the record is split again rather than half resent', () => {
    const { dir, open } = setup({ segmentMaxBytes: 64 * 1024 });
    let spool = open();
    appendN(spool, 2);
    spool.replace(1, [
      { encode: (seq) => payloadOf(seq, 40), samples: 4 },
      { encode: (seq) => payloadOf(seq, 60), samples: 6 },
    ]);
    spool.close();
    // The crash: the second piece never fully reached the disk.
    const seg = join(
      dir,
      readdirSync(dir).find((n) => n.endsWith('.seg'))!,
    );
    truncateSync(seg, statSync(seg).size - 10);
    spool = open();
    expect(spool.readAfter(0, 10).map((x) => x.sequence)).toEqual([1, 2]);
    expect(spool.writtenSequence).toBe(2);
    expect(readdirSync(join(dir, 'split'))).toEqual([]);
    // Split again: the pieces take the sequences of the lost ones.
    expect(spool.replace(1, [{ encode: (seq) => payloadOf(seq, 40), samples: 10 }])).toEqual({
      sequence: 1,
      firstPiece: 3,
      lastPiece: 3,
    });
    spool.close();
  });
});
