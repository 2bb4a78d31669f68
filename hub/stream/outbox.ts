import type { StoredSeries } from '../store/store.js';

/** Rough wire size of one `[ref,timestampMs,value]` tuple; used for the byte bound. */
const SAMPLE_BYTES = 32;

/**
 * One subscription's queued samples. The session holds it for the
 * subscription's lifetime, so queuing a sample needs no lookup by id; it is
 * registered with the outbox on first use and unregistered by forget().
 */
export class SampleQueue {
  refs: number[] = [];
  /** Encoded `[ref,timestampMs,value]` tuples, parallel to refs. */
  tuples: string[] = [];
  /** Position of each series in the arrays while coalescing; null otherwise. */
  index: Map<number, number> | null = null;
  registered = false;

  constructor(readonly subId: string) {}
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
 * the first tuple that refers to them, see announce()); tuples carry the
 * series id. This is the per-delivered-sample path of the stream, so it
 * avoids per-sample lookups and allocations: queues are held by their
 * subscriptions and their arrays reused.
 */
export class Outbox {
  private readonly queues = new Map<string, SampleQueue>();
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

  /** Queues the series' identity unless this connection has been sent it already. */
  announce(series: StoredSeries): void {
    if (this.sentSeries.has(series.id)) return;
    this.sentSeries.add(series.id);
    this.seriesDefs.push(encodeSeries(series));
  }

  /**
   * Queues a sample of series `ref`, given as its encoded tuple
   * (encodeTuple) so a sample fanned out to many clients is encoded once;
   * returns how many queued samples were coalesced away by this call (1
   * when it replaced an older value of its series, more when it pushed the
   * queue over its bound and started coalescing), else 0. The series must
   * have been announced.
   */
  addSample(queue: SampleQueue, ref: number, tuple: string): number {
    if (!queue.registered) {
      queue.registered = true;
      queue.index = this.coalescing ? new Map() : null;
      this.queues.set(queue.subId, queue);
    }
    if (queue.index !== null) {
      const at = queue.index.get(ref);
      if (at !== undefined) {
        queue.tuples[at] = tuple;
        this.coalescedSinceFrame++;
        return 1;
      }
      queue.index.set(ref, queue.refs.length);
    }
    queue.refs.push(ref);
    queue.tuples.push(tuple);
    this.sampleCount++;
    // Falling behind between flushes also counts as pressure.
    if (!this.coalescing && this.sampleCount * SAMPLE_BYTES + this.eventBytes > this.maxBytes) {
      return this.startCoalescing();
    }
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
    for (const queue of this.queues.values()) {
      const index = new Map<number, number>();
      const refs: number[] = [];
      const tuples: string[] = [];
      for (let i = 0; i < queue.refs.length; i++) {
        const ref = queue.refs[i] as number;
        const at = index.get(ref);
        if (at !== undefined) {
          tuples[at] = queue.tuples[i] as string;
          removed++;
        } else {
          index.set(ref, refs.length);
          refs.push(ref);
          tuples.push(queue.tuples[i] as string);
        }
      }
      queue.refs = refs;
      queue.tuples = tuples;
      queue.index = index;
    }
    this.sampleCount -= removed;
    this.coalescedSinceFrame += removed;
    return removed;
  }

  /** Back to arrival order; queues still holding samples keep coalescing until the next frame. */
  stopCoalescing(): void {
    this.coalescing = false;
    for (const queue of this.queues.values()) if (queue.refs.length === 0) queue.index = null;
  }

  /** Drops whatever is queued for a subscription that ended (or moved). */
  forget(subId: string): DroppedCounts {
    const queue = this.queues.get(subId);
    let samples = 0;
    if (queue !== undefined) {
      samples = queue.refs.length;
      reset(queue, false);
      queue.registered = false;
      this.queues.delete(subId);
    }
    const events = this.events.get(subId) ?? [];
    const anomalies = this.anomalies.get(subId) ?? [];
    for (const json of [...events, ...anomalies]) this.eventBytes -= json.length + 1;
    this.sampleCount -= samples;
    this.events.delete(subId);
    this.anomalies.delete(subId);
    return { samples, events: events.length, anomalies: anomalies.length };
  }

  /** Everything queued, for the drop counters when the connection ends. */
  clear(): DroppedCounts {
    const counts: DroppedCounts = { samples: this.sampleCount, events: 0, anomalies: 0 };
    for (const list of this.events.values()) counts.events += list.length;
    for (const list of this.anomalies.values()) counts.anomalies += list.length;
    for (const queue of this.queues.values()) {
      reset(queue, false);
      queue.registered = false;
    }
    this.queues.clear();
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
    const extra = this.events.size + this.anomalies.size > 0;
    const ids = extra
      ? new Set<string>([...this.queues.keys(), ...this.events.keys(), ...this.anomalies.keys()])
      : this.queues.keys();
    for (const id of ids) {
      const queue = this.queues.get(id);
      const hasSamples = queue !== undefined && queue.refs.length > 0;
      const events = extra ? this.events.get(id) : undefined;
      const anomalies = extra ? this.anomalies.get(id) : undefined;
      if (!hasSamples && events === undefined && anomalies === undefined) continue;
      // Subscription ids are restricted to [A-Za-z0-9_.:-] by the schema: no escaping needed.
      out += `${firstSub ? '' : ','}"${id}":{`;
      firstSub = false;
      let sep = '';
      if (hasSamples) {
        out += `"samples":[${queue.tuples.join(',')}]`;
        sep = ',';
      }
      if (events !== undefined) {
        out += `${sep}"events":[${events.join(',')}]`;
        sep = ',';
        counts.events += events.length;
      }
      if (anomalies !== undefined) {
        out += `${sep}"anomalies":[${anomalies.join(',')}]`;
        counts.anomalies += anomalies.length;
      }
      out += '}';
    }
    out += '}';
    if (this.coalescedSinceFrame > 0) out += `,"coalesced":${this.coalescedSinceFrame}`;
    out += '}';
    for (const queue of this.queues.values()) reset(queue, this.coalescing);
    if (extra) {
      this.events = new Map();
      this.anomalies = new Map();
    }
    this.seriesDefs = [];
    this.sampleCount = 0;
    this.eventBytes = 0;
    this.coalescedSinceFrame = 0;
    return { frame: out, counts };
  }
}

function reset(queue: SampleQueue, coalescing: boolean): void {
  queue.refs.length = 0;
  queue.tuples.length = 0;
  if (!coalescing) queue.index = null;
  else if (queue.index === null) queue.index = new Map();
  else queue.index.clear();
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
