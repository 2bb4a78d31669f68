import {
  closeSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  ftruncateSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { encodeRecord, HEADER_BYTES, scanRecords, type CorruptRegion } from './record.js';

export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface SpoolOptions {
  readonly dir: string;
  /** Bound on all segment files together; the oldest segments are dropped beyond it. */
  readonly maxBytes: number;
  /** A new segment is started once the head reaches this size. */
  readonly segmentMaxBytes: number;
  /** always: fdatasync after every record; interval: every fsyncIntervalMs; never: leave it to the OS. */
  readonly fsync: FsyncPolicy;
  readonly fsyncIntervalMs: number;
  /** Records with a larger payload are refused on write and treated as corrupt on read. */
  readonly maxRecordBytes: number;
  /**
   * Bound on the record files (.rec) in the dead-letter directory (records
   * the hub refused, see deadLetter()); the oldest go first. 0 keeps no
   * record files. The small reason files (.json) are always written: they
   * are what keeps a refused record skipped across restarts.
   */
  readonly deadLetterMaxBytes?: number;
  readonly logger: Logger;
  /** Unacknowledged data was dropped to respect maxBytes. */
  readonly onOverflow?: (drop: SpoolDrop) => void;
  /** A torn or corrupt region was found and skipped. Reported once per region per process. */
  readonly onCorruption?: (c: SpoolCorruption) => void;
}

export interface SpoolDrop {
  readonly records: number;
  readonly samples: number;
  readonly firstSequence: number;
  readonly lastSequence: number;
  readonly bytes: number;
}

export interface SpoolCorruption extends CorruptRegion {
  readonly segment: string;
}

export interface SpoolRecord {
  readonly sequence: number;
  readonly samples: number;
  readonly payload: Uint8Array;
}

/** A record moved out of the sending order because the hub refused it. */
export interface DeadLetter {
  readonly sequence: number;
  readonly samples: number;
  readonly bytes: number;
  /** Dead-lettered record files evicted to respect deadLetterMaxBytes. */
  readonly evicted: number;
  /** False when the record file was not kept (deadLetterMaxBytes 0 or smaller than the record). */
  readonly kept: boolean;
}

/** A record replaced by smaller ones (see replace()). */
export interface Replacement {
  readonly sequence: number;
  readonly firstPiece: number;
  readonly lastPiece: number;
}

export interface SpoolStats {
  readonly bytes: number;
  readonly segments: number;
  /** Records on disk with a sequence above the acked one. */
  readonly pendingRecords: number;
  readonly writtenSequence: number;
  readonly ackedSequence: number;
}

interface Segment {
  readonly name: string;
  readonly path: string;
  readonly firstSequence: number;
  bytes: number;
  /** Sequences and sample counts of the valid records, in order. */
  readonly sequences: number[];
  readonly samples: number[];
}

const SEGMENT_RE = /^(\d{20})\.seg$/;
const ACKED_FILE = 'acked';
const DEAD_LETTER_DIR = 'dead-letter';
const DEAD_RECORD_RE = /^(\d{20})\.rec$/;
const DEAD_REASON_RE = /^(\d{20})\.json$/;
const SPLIT_DIR = 'split';

/**
 * A bounded, crash-safe, append-only disk spool of encoded batches. The
 * format and the recovery rules are specified in docs/spool-format.md.
 *
 * Writes are synchronous (writeSync) so a batch is on its way to disk before
 * the caller continues, and ordering is trivially that of the calls.
 * Single-process, single-writer: the data directory is the agent's own.
 */
export class Spool {
  private readonly segments: Segment[] = [];
  private headFd: number | undefined;
  private nextSequence = 1;
  private acked = 0;
  private dirty = false;
  private ackDirty = false;
  private fsyncTimer: NodeJS.Timeout | undefined;
  private readonly reportedCorruption = new Set<string>();
  /** Unacked sequences the hub refused: never read again (kept until an ack passes them). */
  private readonly skipped = new Set<number>();
  /** Unacked sequences replaced by smaller records (replace()): never read again either. */
  private readonly replaced = new Set<number>();
  /** The segment last read, parsed; the sender reads sequentially. */
  private cache: { name: string; parsedBytes: number; buf: Buffer; records: SpoolRecord[] } | undefined;
  private closed = false;

  private constructor(private readonly options: SpoolOptions) {}

  /** Opens (creating if needed) the spool in `dir`, recovering from a crash: see docs/spool-format.md. */
  static open(options: SpoolOptions): Spool {
    const spool = new Spool(options);
    spool.recover();
    spool.fsyncTimer = setInterval(() => {
      if (options.fsync === 'interval') spool.syncIfDirty();
      // A lagging acked file only means resending (see ack()): no fsync.
      spool.persistAcked(false);
    }, options.fsyncIntervalMs);
    spool.fsyncTimer.unref();
    return spool;
  }

  get ackedSequence(): number {
    return this.acked;
  }

  /** Highest sequence handed out so far (0 when none). */
  get writtenSequence(): number {
    return this.nextSequence - 1;
  }

  /**
   * Records dead-lettered that no ack has passed yet: how many refusals came
   * in a row without the hub accepting anything after them (the sender's
   * breaker). Survives restarts (rebuilt from the reason files).
   */
  get deadLetteredUnacked(): number {
    return this.skipped.size;
  }

  private passedOver(sequence: number): boolean {
    return this.skipped.has(sequence) || this.replaced.has(sequence);
  }

  stats(): SpoolStats {
    let bytes = 0;
    let pending = 0;
    for (const s of this.segments) {
      bytes += s.bytes;
      for (const q of s.sequences) if (q > this.acked && !this.passedOver(q)) pending += 1;
    }
    return {
      bytes,
      segments: this.segments.length,
      pendingRecords: pending,
      writtenSequence: this.writtenSequence,
      ackedSequence: this.acked,
    };
  }

  /**
   * Appends one record. `encode` receives the sequence assigned to it (so
   * the payload can carry it) and returns the payload bytes. Returns the sequence.
   */
  append(encode: (sequence: number) => Uint8Array, samples: number): number {
    if (this.closed) throw new Error('spool is closed');
    const sequence = this.nextSequence;
    const payload = encode(sequence);
    if (payload.length > this.options.maxRecordBytes) {
      throw new Error(
        `spool record of ${payload.length} bytes exceeds maxRecordBytes ${this.options.maxRecordBytes}`,
      );
    }
    const record = encodeRecord(sequence, samples, payload);
    this.makeRoom(record.length);
    let head = this.segments.at(-1);
    if (!head || this.headFd === undefined || head.bytes >= this.options.segmentMaxBytes) {
      head = this.startSegment(sequence);
    }
    writeSync(this.headFd!, record);
    head.bytes += record.length;
    head.sequences.push(sequence);
    head.samples.push(samples);
    this.nextSequence = sequence + 1;
    this.dirty = true;
    if (this.options.fsync === 'always') this.syncIfDirty();
    return sequence;
  }

  /**
   * Records after `afterSequence`, in order, at most `max` of them. Corrupt
   * regions met on the way are skipped and reported (onCorruption).
   */
  readAfter(afterSequence: number, max: number): SpoolRecord[] {
    const out: SpoolRecord[] = [];
    for (const seg of this.segments) {
      if (out.length >= max) break;
      const last = seg.sequences.at(-1);
      if (last === undefined || last <= afterSequence) continue;
      for (const rec of this.parsed(seg)) {
        if (rec.sequence <= afterSequence || this.passedOver(rec.sequence)) continue;
        out.push(rec);
        if (out.length >= max) break;
      }
    }
    return out;
  }

  /**
   * The hub made everything up to `sequence` durable: persist that (atomic
   * rename) and delete segments holding nothing newer.
   */
  ack(sequence: number): void {
    if (this.closed || sequence <= this.acked) return;
    this.acked = sequence;
    // Sequences never go backwards: a hub that acked more than we wrote
    // (our data directory was lost) moves our counter past it.
    if (sequence >= this.nextSequence) this.nextSequence = sequence + 1;
    this.ackDirty = true;
    for (const q of this.skipped) if (q <= sequence) this.skipped.delete(q);
    for (const q of this.replaced) {
      if (q > sequence) continue;
      this.replaced.delete(q);
      // Its pieces were written before it was replaced: the marker has done its job.
      rmSync(this.splitMarker(q), { force: true });
    }
    // Acked payloads are never read again: let the read cache of the head
    // segment forget them instead of holding up to a whole segment.
    if (this.cache) this.cache.records = this.cache.records.filter((r) => r.sequence > sequence);
    this.deleteAcked();
    // Without a deletion the acked file may lag (written by the timer or at
    // close): the head segment still holds the highest sequence, so a restart
    // cannot reuse one, and resending acked data is harmless (the hub drops
    // duplicates). This keeps a rename and an fsync off every ack.
    if (this.ackDirty && this.options.fsync === 'always') this.persistAcked();
  }

  /**
   * Writes the acked file atomically (temp file, rename); synced only when
   * it must be durable (before segments are deleted, or fsync=always).
   */
  private persistAcked(sync = true): void {
    if (!this.ackDirty) return;
    const tmp = join(this.options.dir, `${ACKED_FILE}.tmp`);
    writeFileSync(tmp, `${this.acked}\n`);
    if (sync && this.options.fsync !== 'never') {
      const fd = openSync(tmp, 'r');
      fsyncSync(fd);
      closeSync(fd);
    }
    renameSync(tmp, join(this.options.dir, ACKED_FILE));
    this.ackDirty = false;
  }

  /**
   * Deletes segments whose records are all acked. The open head is kept
   * (it rotates at segmentMaxBytes), so a hub that keeps up does not cost a
   * file creation per batch.
   */
  private deleteAcked(): void {
    while (this.segments.length > 0) {
      const seg = this.segments[0]!;
      const last = seg.sequences.at(-1) ?? seg.firstSequence - 1;
      if (last > this.acked) break;
      if (this.segments.length === 1 && this.headFd !== undefined) break;
      // The acked file must cover a segment before it goes, or a restart
      // could hand out its sequences again.
      this.persistAcked();
      this.deleteSegment(seg);
    }
  }

  /**
   * The hub refused record `sequence` for good (docs/agent.md, "Refused
   * batches"): copy it to the dead-letter directory with the reason, and
   * never read it again, so the records after it are delivered (the sender
   * declares the gap in dropped_before). The segment keeps its bytes until
   * acks pass it, like any other record. Undefined when no such unacked
   * record exists.
   */
  deadLetter(sequence: number, reason: { code: string; message: string }): DeadLetter | undefined {
    if (this.closed || sequence <= this.acked || this.passedOver(sequence)) return undefined;
    const rec = this.readAfter(sequence - 1, 1)[0];
    if (rec?.sequence !== sequence) return undefined;
    this.skipped.add(sequence);
    const dir = join(this.options.dir, DEAD_LETTER_DIR);
    const max = this.options.deadLetterMaxBytes ?? 16 * 1024 * 1024;
    const record = encodeRecord(sequence, rec.samples, rec.payload);
    mkdirSync(dir, { recursive: true });
    const base = join(dir, String(sequence).padStart(20, '0'));
    const kept = record.length <= max;
    // The reason is always written, whatever the bound: it is what keeps
    // the record skipped after a restart (else it would be resent, refused
    // and counted again). Written first: a crash between the two files
    // leaves a reason without a record, never a record the agent would not skip.
    writeFileSync(
      `${base}.json`,
      `${JSON.stringify({ sequence, samples: rec.samples, bytes: record.length, code: reason.code, message: reason.message, atMs: Date.now(), recordKept: kept })}\n`,
    );
    let evicted = 0;
    if (kept) {
      writeFileSync(`${base}.rec.tmp`, record);
      renameSync(`${base}.rec.tmp`, `${base}.rec`);
      evicted = this.boundDeadLetters(dir, max);
    }
    this.pruneReasons(dir);
    return { sequence, samples: rec.samples, bytes: record.length, evicted, kept };
  }

  /** Deletes the oldest dead-letter record files until they hold at most `max` bytes. */
  private boundDeadLetters(dir: string, max: number): number {
    const files = readdirSync(dir)
      .filter((n) => DEAD_RECORD_RE.test(n))
      .sort()
      .map((name) => ({ name, bytes: statSync(join(dir, name)).size }));
    let total = files.reduce((n, f) => n + f.bytes, 0);
    let evicted = 0;
    for (const f of files) {
      if (total <= max) break;
      unlinkSync(join(dir, f.name));
      total -= f.bytes;
      evicted += 1;
    }
    return evicted;
  }

  /**
   * Deletes reason files whose record file is gone and whose sequence is
   * acked (no longer needed to skip it), so the directory stays bounded:
   * the reasons left are those of kept records and of unacked ones.
   */
  private pruneReasons(dir: string): void {
    const names = new Set(readdirSync(dir));
    for (const name of names) {
      const m = DEAD_REASON_RE.exec(name);
      if (!m || Number(m[1]) > this.acked || names.has(`${m[1]}.rec`)) continue;
      rmSync(join(dir, name), { force: true });
    }
  }

  /**
   * Replaces unacked record `sequence` by `pieces`, appended as new records
   * (new sequences, after everything written), and never reads it again;
   * the sender declares its sequence in dropped_before. For a batch over
   * the hub's limits that can be split (docs/agent.md, "Refused batches").
   *
   * All or nothing across a crash (docs/spool-format.md, "Split records"):
   * a marker naming the pieces' sequences is made durable first, then the
   * pieces are written with one write and synced; recovery removes a
   * partial set of pieces and forgets the marker, so the record is split
   * again rather than half of it delivered twice.
   */
  replace(
    sequence: number,
    pieces: ReadonlyArray<{ readonly encode: (sequence: number) => Uint8Array; readonly samples: number }>,
  ): Replacement | undefined {
    if (this.closed || pieces.length === 0 || sequence <= this.acked || this.passedOver(sequence))
      return undefined;
    const firstPiece = this.nextSequence;
    const records = pieces.map((p, i) => {
      const payload = p.encode(firstPiece + i);
      if (payload.length > this.options.maxRecordBytes) {
        throw new Error(
          `spool record of ${payload.length} bytes exceeds maxRecordBytes ${this.options.maxRecordBytes}`,
        );
      }
      return encodeRecord(firstPiece + i, p.samples, payload);
    });
    const dir = join(this.options.dir, SPLIT_DIR);
    mkdirSync(dir, { recursive: true });
    const marker = this.splitMarker(sequence);
    writeFileSync(`${marker}.tmp`, `${JSON.stringify({ sequence, firstPiece, pieces: pieces.length })}\n`);
    const fd = openSync(`${marker}.tmp`, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(`${marker}.tmp`, marker);
    syncDir(dir);
    // Passed over before making room, so dropping its segment is not counted as a loss.
    this.replaced.add(sequence);
    const buf = Buffer.concat(records);
    this.makeRoom(buf.length);
    let head = this.segments.at(-1);
    if (!head || this.headFd === undefined || head.bytes >= this.options.segmentMaxBytes) {
      head = this.startSegment(firstPiece);
    }
    writeSync(this.headFd!, buf);
    head.bytes += buf.length;
    pieces.forEach((p, i) => {
      head.sequences.push(firstPiece + i);
      head.samples.push(p.samples);
    });
    this.nextSequence = firstPiece + pieces.length;
    this.dirty = true;
    this.syncIfDirty();
    return { sequence, firstPiece, lastPiece: firstPiece + pieces.length - 1 };
  }

  private splitMarker(sequence: number): string {
    return join(this.options.dir, SPLIT_DIR, `${String(sequence).padStart(20, '0')}.json`);
  }

  /** Flushes to disk (per policy) and closes files; safe twice. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.fsyncTimer);
    if (this.options.fsync !== 'never') this.syncIfDirty();
    this.persistAcked();
    this.closeHead();
  }

  private syncIfDirty(): void {
    if (!this.dirty || this.headFd === undefined) return;
    fdatasyncSync(this.headFd);
    this.dirty = false;
  }

  private recover(): void {
    const { dir, logger } = this.options;
    mkdirSync(dir, { recursive: true });
    try {
      const text = readFileSync(join(dir, ACKED_FILE), 'utf8').trim();
      const n = Number(text);
      if (Number.isSafeInteger(n) && n >= 0) this.acked = n;
      else
        logger.warn(
          { content: text.slice(0, 40) },
          'spool acked file unreadable, resending from the oldest record',
        );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const names = readdirSync(dir)
      .filter((n) => SEGMENT_RE.test(n))
      .sort();
    for (const name of names) {
      const path = join(dir, name);
      const buf = readFileSync(path);
      const { records, corrupt } = scanRecords(buf, 0, this.options.maxRecordBytes);
      const seg: Segment = {
        name,
        path,
        firstSequence: Number(SEGMENT_RE.exec(name)![1]),
        bytes: buf.length,
        sequences: records.map((r) => r.sequence),
        samples: records.map((r) => r.samples),
      };
      // Reported now (once per region per process): the segment may be
      // deleted by an ack before the sender reads it.
      for (const region of corrupt) this.report(name, region);
      const tail = corrupt.at(-1);
      if (name === names.at(-1) && tail?.reason === 'torn_tail') {
        // An interrupted write at the end of the newest segment: cut it off
        // so no reader meets it again.
        const fd = openSync(path, 'r+');
        ftruncateSync(fd, tail.offset);
        fsyncSync(fd);
        closeSync(fd);
        seg.bytes = tail.offset;
      }
      this.segments.push(seg);
    }
    // Refused records stay skipped across restarts (until an ack passes them).
    try {
      for (const name of readdirSync(join(dir, DEAD_LETTER_DIR))) {
        const m = /^(\d{20})\.(rec|json)$/.exec(name);
        if (m && Number(m[1]) > this.acked) this.skipped.add(Number(m[1]));
      }
      this.pruneReasons(join(dir, DEAD_LETTER_DIR));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.recoverSplits();
    const lastWritten = Math.max(0, ...this.segments.map((s) => s.sequences.at(-1) ?? s.firstSequence - 1));
    this.nextSequence = Math.max(lastWritten, this.acked) + 1;
    // Segments with nothing unacked are left over from before a restart.
    // Appends always go to a new segment after a restart (headFd is unset):
    // the old head may end in a region we skipped, and a fresh file keeps
    // the rules simple.
    this.deleteAcked();
    logger.info({ dir, ...this.stats() }, 'spool opened');
  }

  /**
   * Split markers (replace()): a record whose pieces are all on disk stays
   * replaced; pieces cut short by a crash (the tail of the newest segment,
   * written by one write) are removed and the marker forgotten, so the
   * record is read, and split, again.
   */
  private recoverSplits(): void {
    const dir = join(this.options.dir, SPLIT_DIR);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      let m: { sequence: number; firstPiece: number; pieces: number } | undefined;
      try {
        m = name.endsWith('.json') ? (JSON.parse(readFileSync(path, 'utf8')) as typeof m) : undefined;
      } catch {
        m = undefined;
      }
      if (!m || m.sequence <= this.acked) {
        // Done with, a temp file left by a crash, or unreadable (then never durable: written by rename).
        rmSync(path, { force: true });
        continue;
      }
      const last = m.firstPiece + m.pieces - 1;
      const present = this.segments.flatMap((s) => s.sequences.filter((q) => q >= m.firstPiece && q <= last));
      if (present.length === m.pieces) {
        this.replaced.add(m.sequence);
        continue;
      }
      if (present.length > 0) this.truncateFrom(m.firstPiece);
      this.options.logger.warn(
        { sequence: m.sequence, piecesWritten: present.length, pieces: m.pieces },
        'spool split interrupted; the record will be split again',
      );
      rmSync(path, { force: true });
    }
  }

  /** Cuts the newest segment just before record `sequence` (recovery only). */
  private truncateFrom(sequence: number): void {
    const seg = this.segments.at(-1);
    if (!seg) return;
    const { records } = scanRecords(readFileSync(seg.path), 0, this.options.maxRecordBytes);
    const at = records.find((r) => r.sequence >= sequence);
    if (!at) return;
    const fd = openSync(seg.path, 'r+');
    ftruncateSync(fd, at.offset);
    fsyncSync(fd);
    closeSync(fd);
    seg.bytes = at.offset;
    const keep = seg.sequences.findIndex((q) => q >= sequence);
    seg.sequences.splice(keep);
    seg.samples.splice(keep);
  }

  private parsed(seg: Segment): SpoolRecord[] {
    if (this.cache?.name !== seg.name) {
      this.cache = { name: seg.name, parsedBytes: 0, buf: Buffer.alloc(0), records: [] };
    }
    const c = this.cache;
    if (c.parsedBytes < seg.bytes) {
      // Segments only grow, so only the new bytes are read and parsed.
      const fd = openSync(seg.path, 'r');
      try {
        const more = Buffer.allocUnsafe(seg.bytes - c.parsedBytes);
        let got = 0;
        while (got < more.length) {
          const n = readSyncAt(fd, more, got, c.parsedBytes + got);
          if (n === 0) break;
          got += n;
        }
        const { records, corrupt } = scanRecords(more.subarray(0, got), 0, this.options.maxRecordBytes);
        for (const region of corrupt)
          this.report(seg.name, { ...region, offset: region.offset + c.parsedBytes });
        for (const r of records)
          c.records.push({ sequence: r.sequence, samples: r.samples, payload: r.payload });
        c.parsedBytes += got;
      } finally {
        closeSync(fd);
      }
    }
    return c.records;
  }

  private report(segment: string, region: CorruptRegion): void {
    const key = `${segment}:${region.offset}`;
    if (this.reportedCorruption.has(key)) return;
    this.reportedCorruption.add(key);
    this.options.logger.warn({ segment, ...region }, 'spool corruption skipped');
    this.options.onCorruption?.({ segment, ...region });
  }

  private startSegment(firstSequence: number): Segment {
    this.closeHead();
    const name = `${String(firstSequence).padStart(20, '0')}.seg`;
    const path = join(this.options.dir, name);
    this.headFd = openSync(path, 'a');
    if (this.options.fsync !== 'never') syncDir(this.options.dir);
    const seg: Segment = { name, path, firstSequence, bytes: 0, sequences: [], samples: [] };
    this.segments.push(seg);
    return seg;
  }

  private closeHead(): void {
    if (this.headFd === undefined) return;
    if (this.dirty && this.options.fsync !== 'never') fdatasyncSync(this.headFd);
    this.dirty = false;
    closeSync(this.headFd);
    this.headFd = undefined;
  }

  private deleteSegment(seg: Segment): void {
    unlinkSync(seg.path);
    const i = this.segments.indexOf(seg);
    if (i >= 0) this.segments.splice(i, 1);
    if (this.cache?.name === seg.name) this.cache = undefined;
  }

  /** Drops the oldest segments until `incomingBytes` more fit in maxBytes; counts unacked data dropped. */
  private makeRoom(incomingBytes: number): void {
    let total = this.segments.reduce((n, s) => n + s.bytes, 0);
    if (total + incomingBytes <= this.options.maxBytes) return;
    let records = 0;
    let samples = 0;
    let bytes = 0;
    let first = Infinity;
    let last = 0;
    while (this.segments.length > 0 && total + incomingBytes > this.options.maxBytes) {
      const seg = this.segments[0]!;
      if (this.segments.length === 1) this.closeHead();
      seg.sequences.forEach((q, i) => {
        // Dead-lettered or replaced records were accounted for when passed over.
        if (q <= this.acked || this.passedOver(q)) return;
        records += 1;
        samples += seg.samples[i] ?? 0;
        first = Math.min(first, q);
        last = Math.max(last, q);
      });
      total -= seg.bytes;
      bytes += seg.bytes;
      this.deleteSegment(seg);
    }
    if (records > 0) {
      this.options.logger.warn(
        { records, samples, firstSequence: first, lastSequence: last },
        'spool full, oldest data dropped',
      );
      this.options.onOverflow?.({ records, samples, firstSequence: first, lastSequence: last, bytes });
    }
  }
}

function readSyncAt(fd: number, buf: Buffer, offset: number, position: number): number {
  return readSync(fd, buf, offset, buf.length - offset, position);
}

function syncDir(dir: string): void {
  // Makes a created or renamed file's directory entry durable (POSIX).
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on directories; the data itself is synced.
  }
}

export { HEADER_BYTES };
