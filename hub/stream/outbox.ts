import type { StoredSeries } from '../store/store.js';

/** Rough wire size of one `[ref,timestampMs,value]` tuple; used for the byte bound. */
const SAMPLE_BYTES = 32;

interface PendingSamples {
  refs: number[];
  /** Encoded `[ref,timestampMs,value]` tuples, parallel to refs. */
  tuples: string[];
  /** Position of each series in the arrays while coalescing; null otherwise. */
  index: Map<number, number> | null;
}

/** What was queued and is now lost (the connection closed). */
export interface DroppedCounts {
  samples: number;
  events: number;
  anomalies: number;
}

/**
 * One client's queue of data not yet written to its socket, drained into a
 * single `data` frame per flush tick. Samples are kept in arrival order
 * until the client falls behind; in coalescing mode each series keeps only
 * its latest value, so the queue is bounded by the number of series, not by
 * time. Events and anomalies are never coalesced: they are kept
 * pre-serialized and their bytes counted, and the session closes a client
 * whose event backlog exceeds the bound.
 *
 * Series identities are sent once per connection (`series` in a frame before
 * the first tuple that refers to them); tuples carry the series id.
 */
export class Outbox {
  private samples = new Map<string, PendingSamples>();
  private events = new Map<string, string[]>();
  private anomalies = new Map<string, string[]>();
  private seriesDefs: string[] = [];
  private readonly sentSeries = new Set<number>();
  private sampleCount = 0;
  private coalescedSinceFrame = 0;
  /** Bytes of queued events and anomalies (never coalesced). */
  eventBytes = 0;
  coalescing = false;

  constructor(private readonly maxBytes: number) {}

  get queuedBytes(): number {
    return this.sampleCount * SAMPLE_BYTES + this.eventBytes;
  }

  get empty(): boolean {
    return this.sampleCount === 0 && this.eventBytes === 0 && this.seriesDefs.length === 0;
  }

  /**
   * Queues a sample, given as its encoded tuple (encodeTuple) so a sample
   * fanned out to many clients is encoded once; returns 1 when it replaced
   * an older value of its series (coalesced), else 0.
   */
  addSample(subId: string, series: StoredSeries, tuple: string): number {
    if (!this.sentSeries.has(series.id)) {
      this.sentSeries.add(series.id);
      this.seriesDefs.push(encodeSeries(series));
    }
    let pending = this.samples.get(subId);
    if (pending === undefined) {
      pending = { refs: [], tuples: [], index: this.coalescing ? new Map() : null };
      this.samples.set(subId, pending);
    }
    if (pending.index !== null) {
      const at = pending.index.get(series.id);
      if (at !== undefined) {
        pending.tuples[at] = tuple;
        this.coalescedSinceFrame++;
        return 1;
      }
      pending.index.set(series.id, pending.refs.length);
    }
    pending.refs.push(series.id);
    pending.tuples.push(tuple);
    this.sampleCount++;
    // Falling behind between flushes also counts as pressure.
    if (!this.coalescing && this.queuedBytes > this.maxBytes) return this.startCoalescing();
    return 0;
  }

  addEvent(subId: string, json: string): void {
    push(this.events, subId, json);
    this.eventBytes += json.length + 1;
  }

  addAnomaly(subId: string, json: string): void {
    push(this.anomalies, subId, json);
    this.eventBytes += json.length + 1;
  }

  /** Switches to latest-value-per-series and compacts what is queued; returns the samples removed. */
  startCoalescing(): number {
    if (this.coalescing) return 0;
    this.coalescing = true;
    let removed = 0;
    for (const [subId, pending] of this.samples) {
      const index = new Map<number, number>();
      const compact: PendingSamples = { refs: [], tuples: [], index };
      for (let i = 0; i < pending.refs.length; i++) {
        const ref = pending.refs[i] as number;
        const at = index.get(ref);
        if (at !== undefined) {
          compact.tuples[at] = pending.tuples[i] as string;
          removed++;
        } else {
          index.set(ref, compact.refs.length);
          compact.refs.push(ref);
          compact.tuples.push(pending.tuples[i] as string);
        }
      }
      this.samples.set(subId, compact);
    }
    this.sampleCount -= removed;
    this.coalescedSinceFrame += removed;
    return removed;
  }

  stopCoalescing(): void {
    this.coalescing = false;
  }

  /** Drops whatever is queued for a subscription that ended. */
  forget(subId: string): DroppedCounts {
    const samples = this.samples.get(subId)?.refs.length ?? 0;
    const events = this.events.get(subId) ?? [];
    const anomalies = this.anomalies.get(subId) ?? [];
    for (const json of [...events, ...anomalies]) this.eventBytes -= json.length + 1;
    this.sampleCount -= samples;
    this.samples.delete(subId);
    this.events.delete(subId);
    this.anomalies.delete(subId);
    return { samples, events: events.length, anomalies: anomalies.length };
  }

  /** Everything queued, for the drop counters when the connection ends. */
  clear(): DroppedCounts {
    const counts: DroppedCounts = { samples: this.sampleCount, events: 0, anomalies: 0 };
    for (const list of this.events.values()) counts.events += list.length;
    for (const list of this.anomalies.values()) counts.anomalies += list.length;
    this.samples.clear();
    this.events.clear();
    this.anomalies.clear();
    this.seriesDefs = [];
    this.sampleCount = 0;
    this.eventBytes = 0;
    return counts;
  }

  /**
   * Serializes everything queued into one `data` frame and empties the queue.
   * Returns the frame and how many messages of each stream it carries.
   */
  takeFrame(): { frame: string; counts: DroppedCounts } | undefined {
    if (this.empty) return undefined;
    const counts: DroppedCounts = { samples: this.sampleCount, events: 0, anomalies: 0 };
    let out = '{"type":"data"';
    if (this.seriesDefs.length > 0) out += `,"series":[${this.seriesDefs.join(',')}]`;
    out += ',"subs":{';
    let firstSub = true;
    const ids = new Set<string>([...this.samples.keys(), ...this.events.keys(), ...this.anomalies.keys()]);
    for (const id of ids) {
      // Subscription ids are restricted to [A-Za-z0-9_.:-] by the schema: no escaping needed.
      out += `${firstSub ? '' : ','}"${id}":{`;
      firstSub = false;
      const parts: string[] = [];
      const samples = this.samples.get(id);
      if (samples !== undefined && samples.refs.length > 0)
        parts.push(`"samples":[${samples.tuples.join(',')}]`);
      const events = this.events.get(id);
      if (events !== undefined) {
        parts.push(`"events":[${events.join(',')}]`);
        counts.events += events.length;
      }
      const anomalies = this.anomalies.get(id);
      if (anomalies !== undefined) {
        parts.push(`"anomalies":[${anomalies.join(',')}]`);
        counts.anomalies += anomalies.length;
      }
      out += parts.join(',') + '}';
    }
    out += '}';
    if (this.coalescedSinceFrame > 0) out += `,"coalesced":${this.coalescedSinceFrame}`;
    out += '}';
    this.samples = new Map();
    this.events = new Map();
    this.anomalies = new Map();
    this.seriesDefs = [];
    this.sampleCount = 0;
    this.eventBytes = 0;
    this.coalescedSinceFrame = 0;
    return { frame: out, counts };
  }
}

function push(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

/** A sample as sent: `[series id, timestampMs, value]`, non-finite values as null. */
export function encodeTuple(seriesId: number, timestampMs: number, value: number): string {
  return `[${seriesId},${timestampMs},${Number.isFinite(value) ? value : 'null'}]`;
}

/** Encoded identities, shared by every connection that sends the same series object. */
const encodedSeries = new WeakMap<StoredSeries, string>();

/** The identity sent once per connection; fields listed so nothing else leaks. */
export function encodeSeries(s: StoredSeries): string {
  let json = encodedSeries.get(s);
  if (json === undefined) {
    json = encodeIdentity(s);
    encodedSeries.set(s, json);
  }
  return json;
}

function encodeIdentity(s: StoredSeries): string {
  return JSON.stringify({
    id: s.id,
    cluster: s.cluster,
    node: s.node,
    source: s.source,
    entity: s.entity,
    metric: s.metric,
    labels: s.labels,
    kind: s.kind,
  });
}
