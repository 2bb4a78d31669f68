import type { Bus, BusBatch } from '../bus/bus.js';
import type { Subscription } from './subscription.js';

interface Route {
  readonly samples: Set<Subscription>;
  readonly events: Set<Subscription>;
  readonly anomalies: Set<Subscription>;
  /** series id -> sample subscriptions that want it; rebuilt lazily after any change. */
  cache: Map<number, Subscription[]>;
  unsubscribe: () => void;
}

/**
 * Connects subscriptions to the bus: one bus subscription per channel key
 * (cluster or '*') while at least one local subscription needs it, so with
 * the Redis bus a replica receives only clusters its clients watch.
 *
 * Matching a sample against every subscription would cost
 * samples × subscriptions; instead the result is cached per series id (an
 * identity never changes), so steady-state dispatch is one map lookup per
 * sample plus one call per interested subscription.
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
          samples: new Set(),
          events: new Set(),
          anomalies: new Set(),
          cache: new Map(),
          unsubscribe: () => undefined,
        };
        created.unsubscribe = this.bus.subscribe(key, (batch) => this.dispatch(created, batch));
        this.routes.set(key, created);
        route = created;
      }
      route[sub.stream].add(sub);
      if (sub.stream === 'samples') route.cache = new Map();
    }
  }

  remove(sub: Subscription): void {
    for (const key of sub.busKeys) {
      const route = this.routes.get(key);
      if (route === undefined) continue;
      if (!route[sub.stream].delete(sub)) continue;
      if (sub.stream === 'samples') route.cache = new Map();
      if (route.samples.size + route.events.size + route.anomalies.size === 0) {
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

  private dispatch(route: Route, batch: BusBatch): void {
    if (route.samples.size > 0) {
      for (const sample of batch.samples) {
        const id = sample.series.id;
        let subs = route.cache.get(id);
        if (subs === undefined) {
          subs = [];
          for (const sub of route.samples) if (sub.wantsSeries(sample.series)) subs.push(sub);
          if (route.cache.size >= this.cacheMaxEntries) route.cache = new Map();
          route.cache.set(id, subs);
        }
        for (const sub of subs) sub.sink.offerSamples(sub, sample.series, sample.timestampsMs, sample.values);
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
