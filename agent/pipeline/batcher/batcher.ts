import type { Collection } from '../../model/telemetry.js';

export interface BatcherOptions {
  /** Flush once this many samples are pending. */
  readonly maxSamples: number;
  /** Flush once the pending data's estimated encoded size reaches this. */
  readonly maxBytes: number;
  /**
   * Flush this long after the first pending item arrived, however little is
   * pending. 0: write-through, flushed right after the code that added it
   * (a microtask), so collections handed over together still share a batch.
   */
  readonly maxAgeMs: number;
  /** Receives the pending collections; called synchronously, never concurrently. */
  readonly flush: (collections: Collection[], samples: number) => void;
  /** A flush failed (disk full, ...): the batch is lost, and counted by the caller. */
  readonly onError: (err: unknown, samples: number) => void;
}

/** Rough protobuf size: a sample is a varint ref share plus int64 and double. */
const SAMPLE_BYTES = 14;
const ITEM_BYTES = 120;

/**
 * Gathers collections until a size or age bound, then hands them to the
 * spool writer as one batch. Holds data only in memory: SIGTERM calls
 * flush(); a SIGKILL loses at most maxAgeMs of collected data (the default,
 * 0, writes each collection through at once). The flush is never run inside
 * add() for the age bound: the spool itself adds events (overflow) while it
 * appends, which must not re-enter it.
 */
export class Batcher {
  private pending: Collection[] = [];
  private samples = 0;
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushQueued = false;
  /** Hard caps from the hub (Welcome limits): no batch goes over them. */
  private capSamples = Infinity;
  private capBytes = Infinity;

  constructor(private readonly options: BatcherOptions) {}

  /**
   * Hard caps (the hub's max_samples_per_batch and a share of its message
   * size): unlike maxSamples/maxBytes, which flush once reached, these are
   * never exceeded. A collection larger than the cap is split; a collection
   * that would push the pending batch over it flushes that batch first.
   */
  setCaps(caps: { readonly maxSamples?: number; readonly maxBytes?: number }): void {
    this.capSamples = caps.maxSamples && caps.maxSamples > 0 ? caps.maxSamples : Infinity;
    this.capBytes = caps.maxBytes && caps.maxBytes > 0 ? caps.maxBytes : Infinity;
    if (this.samples > this.capSamples || this.bytes > this.capBytes) {
      // What is pending already is over the new caps: put it through add() again.
      const pending = this.pending;
      this.pending = [];
      this.samples = 0;
      this.bytes = 0;
      for (const c of pending) this.add(c);
    }
  }

  add(collection: Collection): void {
    if (collection.samples.length + collection.events.length + collection.inventory.length === 0) return;
    const perChunk = Math.max(1, Math.min(this.capSamples, Math.floor(this.capBytes / SAMPLE_BYTES)));
    if (collection.samples.length > perChunk) {
      // Events and inventory travel with the first part.
      for (let i = 0; i < collection.samples.length; i += perChunk) {
        this.add({
          samples: collection.samples.slice(i, i + perChunk),
          events: i === 0 ? collection.events : [],
          inventory: i === 0 ? collection.inventory : [],
        });
      }
      return;
    }
    const bytes =
      collection.samples.length * SAMPLE_BYTES +
      (collection.events.length + collection.inventory.length) * ITEM_BYTES;
    if (
      this.pending.length > 0 &&
      (this.samples + collection.samples.length > this.capSamples || this.bytes + bytes > this.capBytes)
    ) {
      this.flush();
    }
    this.pending.push(collection);
    this.samples += collection.samples.length;
    this.bytes += bytes;
    if (this.samples >= this.options.maxSamples || this.bytes >= this.options.maxBytes) {
      this.flush();
      return;
    }
    if (this.options.maxAgeMs === 0) {
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(() => {
          this.flushQueued = false;
          this.flush();
        });
      }
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.options.maxAgeMs);
      this.timer.unref();
    }
  }

  /** Hands everything pending to the writer now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    const samples = this.samples;
    this.pending = [];
    this.samples = 0;
    this.bytes = 0;
    try {
      this.options.flush(batch, samples);
    } catch (err) {
      this.options.onError(err, samples);
    }
  }

  get pendingSamples(): number {
    return this.samples;
  }
}
