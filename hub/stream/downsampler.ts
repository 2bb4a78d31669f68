import type { StoredSeries } from '../store/store.js';

export type Aggregation = 'latest' | 'avg';

/** Receives the points a downsampler lets through, with the state of their series. */
export type EmitPoint = (state: SeriesState, timestampMs: number, value: number, encoded?: string) => void;

/** One series' rate state inside one downsampler; the router keeps a reference per (series, subscription). */
export interface SeriesState {
  readonly series: StoredSeries;
  /** Wall-clock time before which this series may not emit again. */
  nextEmitMs: number;
  count: number;
  sum: number;
  lastTimestampMs: number;
  lastValue: number;
  queued: boolean;
  /**
   * Whether the connection has been sent this series' identity; kept here,
   * per (series, subscription), so the per-sample path needs no set lookup
   * (the outbox's per-connection set is consulted only while false).
   */
  announced: boolean;
}

/**
 * Enforces a subscription's maximum rate per series. A point is passed
 * through at once when its series has not emitted within the last interval
 * (so a 1 Hz series under a 10 Hz cap costs no latency); otherwise it is
 * folded into the series' pending aggregate (latest value, or the mean with
 * the latest timestamp), which tick() emits as soon as the interval has
 * passed. State is one small record per series, bounded by maxSeries.
 */
export class Downsampler {
  private readonly states = new Map<number, SeriesState>();
  private pending: SeriesState[] = [];

  constructor(
    readonly intervalMs: number,
    readonly aggregation: Aggregation,
    private readonly maxSeries: number,
    private readonly emit: EmitPoint,
  ) {}

  /**
   * Offers points of one series; returns how many were folded into an
   * aggregate, or -1 when the series was refused because maxSeries is reached.
   * `encoded` is the wire form of a single point, passed on when it goes
   * through unchanged (the router encodes a fanned-out sample once).
   */
  offer(
    series: StoredSeries,
    timestampsMs: readonly number[],
    values: readonly number[],
    nowMs: number,
    encoded?: string,
  ): number {
    const state = this.stateFor(series);
    return state === undefined ? -1 : this.offerTo(state, timestampsMs, values, nowMs, encoded);
  }

  /**
   * The state of a series, created on first use; undefined when maxSeries
   * is reached. The router looks it up once per (series, subscription) and
   * keeps it, so the per-sample path needs no map lookup.
   */
  stateFor(series: StoredSeries): SeriesState | undefined {
    let state = this.states.get(series.id);
    if (state === undefined) {
      if (this.states.size >= this.maxSeries) return undefined;
      state = {
        series,
        nextEmitMs: 0,
        count: 0,
        sum: 0,
        lastTimestampMs: 0,
        lastValue: 0,
        queued: false,
        announced: false,
      };
      this.states.set(series.id, state);
    }
    return state;
  }

  /** offer() for a state obtained from stateFor(). */
  offerTo(
    state: SeriesState,
    timestampsMs: readonly number[],
    values: readonly number[],
    nowMs: number,
    encoded?: string,
  ): number {
    let folded = 0;
    for (let i = 0; i < values.length; i++) {
      const ts = timestampsMs[i] as number;
      const value = values[i] as number;
      if (state.count === 0 && nowMs >= state.nextEmitMs) {
        this.emit(state, ts, value, values.length === 1 ? encoded : undefined);
        state.nextEmitMs = nowMs + this.intervalMs;
        continue;
      }
      if (state.count > 0) folded++;
      state.count++;
      state.sum += value;
      state.lastTimestampMs = ts;
      state.lastValue = value;
      if (!state.queued) {
        state.queued = true;
        this.pending.push(state);
      }
    }
    return folded;
  }

  /** Emits the aggregates whose interval has passed. */
  tick(nowMs: number): void {
    if (this.pending.length === 0) return;
    const still: SeriesState[] = [];
    for (const state of this.pending) {
      if (nowMs < state.nextEmitMs) {
        still.push(state);
        continue;
      }
      const value = this.aggregation === 'avg' ? state.sum / state.count : state.lastValue;
      this.emit(state, state.lastTimestampMs, value);
      state.count = 0;
      state.sum = 0;
      state.queued = false;
      state.nextEmitMs = nowMs + this.intervalMs;
    }
    this.pending = still;
  }

  /**
   * Forgets every series `keep` refuses, pending aggregate included (the
   * subscription lost access to its cluster: nothing of it may be emitted
   * later). Returns how many folded points were dropped that way.
   */
  retain(keep: (series: StoredSeries) => boolean): number {
    let dropped = 0;
    for (const [id, state] of this.states) {
      if (keep(state.series)) continue;
      this.states.delete(id);
      if (state.queued) dropped += state.count;
    }
    if (dropped > 0 || this.pending.some((st) => !keep(st.series))) {
      this.pending = this.pending.filter((st) => keep(st.series));
    }
    return dropped;
  }

  /** Series refused so far are not tracked; this is the number tracked. */
  get seriesCount(): number {
    return this.states.size;
  }
}
