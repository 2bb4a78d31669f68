import { decodeBatch, encodeBatchMessage, type Batch } from '../../encode/batch.js';

/** Hard per-batch caps a piece must respect; Infinity where the hub states none. */
export interface SplitCaps {
  readonly maxSamples: number;
  readonly maxEvents: number;
  readonly maxInventory: number;
  /** Encoded Batch size. */
  readonly maxBytes: number;
}

/**
 * Room left in max_message_bytes for what the sender changes or adds when
 * it sends a spooled batch: the StreamRequest wrapper and dropped_before
 * (a few varint bytes each). The sender only removes SeriesDefs, never adds.
 */
export const SEND_OVERHEAD_BYTES = 64;

/**
 * Splits an encoded batch into self-contained batches within `caps` (each
 * carries the SeriesDefs of the refs it uses, like every spool record), in
 * the original order. Undefined when it cannot: a single sample, event or
 * fact is over the byte cap, or nothing needs splitting.
 */
export function splitBatch(payload: Uint8Array, caps: SplitCaps): Batch[] | undefined {
  const batch = decodeBatch(payload);
  if (fits(batch, caps)) return undefined;
  const out: Batch[] = [];
  return halve(batch, caps, out) ? out : undefined;
}

function sampleCount(b: Batch): number {
  let n = 0;
  for (const s of b.samples) n += Math.max(s.timestampsMs.length, s.values.length);
  return n;
}

function fits(b: Batch, caps: SplitCaps): boolean {
  return (
    sampleCount(b) <= caps.maxSamples &&
    b.events.length <= caps.maxEvents &&
    b.inventory.length <= caps.maxInventory &&
    encodeBatchMessage(b).length <= caps.maxBytes
  );
}

/**
 * Recursive halving: simple, and a handful of encodes for the rare batch
 * built before the hub's limits were known. Appends the pieces to `out`;
 * false when a piece of one item is still too big.
 */
function halve(b: Batch, caps: SplitCaps, out: Batch[]): boolean {
  if (fits(b, caps)) {
    out.push(b);
    return true;
  }
  const samples = sampleCount(b);
  const items = samples + b.events.length + b.inventory.length;
  if (items <= 1) return false;
  const [first, second] = cut(b, Math.floor(items / 2));
  return halve(first, caps, out) && halve(second, caps, out);
}

/** The first `n` items (samples, then events, then inventory facts) and the rest. */
function cut(b: Batch, n: number): [Batch, Batch] {
  const a: Batch = { ...b, series: [], samples: [], events: [], inventory: [] };
  const z: Batch = { ...b, series: [], samples: [], events: [], inventory: [] };
  let left = n;
  for (const s of b.samples) {
    const len = Math.max(s.timestampsMs.length, s.values.length);
    const take = Math.min(left, len);
    left -= take;
    if (take > 0)
      a.samples.push({
        ref: s.ref,
        timestampsMs: s.timestampsMs.slice(0, take),
        values: s.values.slice(0, take),
      });
    if (take < len)
      z.samples.push({ ref: s.ref, timestampsMs: s.timestampsMs.slice(take), values: s.values.slice(take) });
  }
  const ev = Math.min(left, b.events.length);
  left -= ev;
  a.events = b.events.slice(0, ev);
  z.events = b.events.slice(ev);
  const inv = Math.min(left, b.inventory.length);
  a.inventory = b.inventory.slice(0, inv);
  z.inventory = b.inventory.slice(inv);
  for (const piece of [a, z]) {
    const used = new Set(piece.samples.map((s) => s.ref));
    piece.series = b.series.filter((d) => used.has(d.ref));
  }
  return [a, z];
}
