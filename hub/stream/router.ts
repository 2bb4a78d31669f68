import type { Bus, BusBatch } from '../bus/bus.js';
import type { StoredSeries } from '../store/store.js';
import type { SeriesState } from './downsampler.js';
import { encodeTuple } from './outbox.js';
import type { Subscription } from './subscription.js';

interface CacheEntry {
  readonly series: StoredSeries;
  readonly subs: Subscription[];
  /**
   * Parallel to subs: the series' state in each subscription's downsampler
   * (undefined: over its series limit; null: not looked up yet, resolved
   * when the series next has a sample, so a new subscription spends its
   * series budget on live series, not on every cached one).
   */
  readonly states: (SeriesState | undefined | null)[];
}

interface Route {
  /** Sample subscriptions whose selector pins a metric, by metric; the rest in `anyMetric`. */
  readonly byMetric: Map<string, Set<Subscription>>;
  readonly anyMetric: Set<Subscription>;
  readonly events: Set<Subscription>;
  readonly anomalies: Set<Subscription>;
  /** series id -> the sample subscriptions that want it, kept up to date on every change. */
  cache: Map<number, CacheEntry>;
  sampleSubs: number;
  unsubscribe: () => void;
}

/**
 * Connects subscriptions to the bus: one bus subscription per channel key
 * (cluster or '*') while at least one local subscription needs it, so with
 * the Redis bus a replica receives only clusters its clients watch.
 *
 * Matching every sample against every subscription would cost samples ×
 * subscriptions. Instead each series id maps (cache) to the subscriptions
 * that want it: a series identity never changes, so steady-state dispatch is
 * one map lookup per sample plus one call per interested subscription. The
 * cache is updated incrementally when a subscription comes or goes (one
 * selector test per cached series), and a new series is tested only against
 * subscriptions for its metric plus those without a metric.
 */
export class Router {
  private readonly routes = new Map<string, Route>();

  constructor(
    private readonly bus: Bus,
    private readonly cacheMaxEntries: number,
  ) {}

  add(sub: Subscription): void {
    for (const key of sub.busKeys) {
      let route = this.routes.get(key);
      if (route === undefined) {
        const created: Route = {
          byMetric: new Map(),
          anyMetric: new Set(),
          events: new Set(),
          anomalies: new Set(),
          cache: new Map(),
          sampleSubs: 0,
          unsubscribe: () => undefined,
        };
        created.unsubscribe = this.bus.subscribe(key, (batch) => this.dispatch(created, batch));
        this.routes.set(key, created);
        route = created;
      }
      if (sub.stream !== 'samples') {
        route[sub.stream].add(sub);
        continue;
      }
      const metric = sub.metric;
      if (metric === undefined) route.anyMetric.add(sub);
      else {
        let set = route.byMetric.get(metric);
        if (set === undefined) route.byMetric.set(metric, (set = new Set()));
        set.add(sub);
      }
      route.sampleSubs++;
      for (const entry of route.cache.values()) {
        if (sub.wantsSeries(entry.series)) {
          entry.subs.push(sub);
          entry.states.push(null);
        }
      }
    }
  }

  remove(sub: Subscription): void {
    for (const key of sub.busKeys) {
      const route = this.routes.get(key);
      if (route === undefined) continue;
      if (sub.stream !== 'samples') {
        if (!route[sub.stream].delete(sub)) continue;
      } else {
        const set = sub.metric === undefined ? route.anyMetric : route.byMetric.get(sub.metric);
        if (set === undefined || !set.delete(sub)) continue;
        if (set.size === 0 && sub.metric !== undefined) route.byMetric.delete(sub.metric);
        route.sampleSubs--;
        for (const entry of route.cache.values()) {
          const at = entry.subs.indexOf(sub);
          if (at >= 0) {
            entry.subs.splice(at, 1);
            entry.states.splice(at, 1);
          }
        }
        if (route.sampleSubs === 0) route.cache = new Map();
      }
      if (route.sampleSubs + route.events.size + route.anomalies.size === 0) {
        route.unsubscribe();
        this.routes.delete(key);
      }
    }
  }

  /** Bus keys currently subscribed (tests, diagnostics). */
  keys(): string[] {
    return [...this.routes.keys()];
  }

  close(): void {
    for (const route of this.routes.values()) route.unsubscribe();
    this.routes.clear();
  }

  private match(route: Route, series: StoredSeries): CacheEntry {
    const subs: Subscription[] = [];
    const pinned = route.byMetric.get(series.metric);
    if (pinned !== undefined) for (const sub of pinned) if (sub.wantsSeries(series)) subs.push(sub);
    for (const sub of route.anyMetric) if (sub.wantsSeries(series)) subs.push(sub);
    const entry: CacheEntry = { series, subs, states: subs.map((sub) => sub.downsampler?.stateFor(series)) };
    if (route.cache.size >= this.cacheMaxEntries) route.cache = new Map();
    route.cache.set(series.id, entry);
    return entry;
  }

  private dispatch(route: Route, batch: BusBatch): void {
    if (route.sampleSubs > 0) {
      // One clock read per batch: the downsamplers' intervals are ≥ 1 ms anyway.
      const nowMs = Date.now();
      for (const sample of batch.samples) {
        const entry = route.cache.get(sample.series.id) ?? this.match(route, sample.series);
        const { subs, states } = entry;
        if (subs.length === 0) continue;
        // The usual single-point sample is encoded once for all its subscribers.
        const encoded =
          sample.values.length === 1
            ? encodeTuple(sample.series.id, sample.timestampsMs[0] as number, sample.values[0] as number)
            : undefined;
        for (let i = 0; i < subs.length; i++) {
          const sub = subs[i] as Subscription;
          let state = states[i];
          if (state === null) state = states[i] = sub.downsampler?.stateFor(sample.series);
          sub.sink.offerSamples(sub, state, sample.timestampsMs, sample.values, encoded, nowMs);
        }
      }
    }
    if (route.events.size > 0) {
      for (const event of batch.events) {
        for (const sub of route.events) if (sub.wantsEvent(event)) sub.sink.offerEvent(sub, event);
      }
    }
    if (route.anomalies.size > 0 && batch.anomalies !== undefined) {
      for (const anomaly of batch.anomalies) {
        for (const sub of route.anomalies)
          if (sub.wantsSeries(anomaly.series)) sub.sink.offerAnomaly(sub, anomaly);
      }
    }
  }
}
