import type { AnomalyMessage } from '../bus/bus.js';
import type { EventRecord, StoredSeries } from '../store/store.js';
import type { Downsampler, SeriesState } from './downsampler.js';
import type { StreamKind } from './protocol.js';
import type { CompiledSelector } from './selector.js';

/** Where a subscription's matches go: its session implements this. */
export interface SubscriptionSink {
  /**
   * `state` is the series' state in the subscription's downsampler (the
   * router keeps it per series), undefined when the subscription's series
   * limit refused it; `encoded` is the wire form of a single-point sample,
   * shared by every subscriber.
   */
  offerSamples(
    sub: Subscription,
    state: SeriesState | undefined,
    timestampsMs: readonly number[],
    values: readonly number[],
    encoded: string | undefined,
    nowMs: number,
  ): void;
  offerEvent(sub: Subscription, event: EventRecord): void;
  offerAnomaly(sub: Subscription, anomaly: AnomalyMessage): void;
}

/**
 * One accepted subscription of one client. `busKeys` are the bus channels it
 * needs (its cluster, the clusters RBAC allows, or '*'); `allowedClusters`
 * is null when RBAC grants every cluster.
 */
export class Subscription {
  constructor(
    readonly id: string,
    readonly stream: StreamKind,
    readonly selector: CompiledSelector,
    /** The cluster the client named, if any (RBAC is re-checked against it). */
    readonly requestedCluster: string | undefined,
    readonly busKeys: readonly string[],
    readonly allowedClusters: ReadonlySet<string> | null,
    readonly sink: SubscriptionSink,
    readonly downsampler: Downsampler | undefined,
    /** The metric the selector pins, if any (the router indexes on it). */
    readonly metric: string | undefined,
  ) {}

  /** The same subscription (and downsampler state) on other channels, after RBAC changed. */
  withAccess(busKeys: readonly string[], allowedClusters: ReadonlySet<string> | null): Subscription {
    return new Subscription(
      this.id,
      this.stream,
      this.selector,
      this.requestedCluster,
      busKeys,
      allowedClusters,
      this.sink,
      this.downsampler,
      this.metric,
    );
  }

  wantsSeries(series: StoredSeries): boolean {
    return (
      (this.allowedClusters === null || this.allowedClusters.has(series.cluster)) &&
      this.selector.matchesSeries(series)
    );
  }

  wantsEvent(event: EventRecord): boolean {
    return (
      (this.allowedClusters === null || this.allowedClusters.has(event.cluster)) &&
      this.selector.matchesEvent(event)
    );
  }
}
