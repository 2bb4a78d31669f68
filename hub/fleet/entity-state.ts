import type { InventoryRecord, LatestValue, Store } from '../store/store.js';

/**
 * The current state of one entity (a GPU, a PTP port, a VF, ...): its
 * inventory fact joined with the latest value of every series about it.
 * Fleet views (GPUs, PTP, SR-IOV) are projections of these.
 */
export interface EntityState {
  readonly cluster: string;
  readonly node: string;
  readonly entity: string;
  readonly kind: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly observedMs: number;
  /** Latest values keyed by `metric` or `metric{name="value",...}` (labels sorted). */
  readonly values: ReadonlyMap<
    string,
    { value: number; timestampMs: number; labels: Record<string, string> }
  >;
}

export interface EntityQuery {
  readonly cluster?: string;
  /** Only these clusters (the caller's scope); see SeriesSelector.clusters. */
  readonly clusters?: readonly string[];
  readonly node?: string;
  readonly source: string;
  readonly kinds: readonly string[];
}

/** Labels that identify the workload, not the measurement: left out of value keys. */
const ATTRIBUTION_LABELS = new Set(['namespace', 'pod', 'container']);

export function valueKey(metric: string, labels: Readonly<Record<string, string>>): string {
  const names = Object.keys(labels)
    .filter((n) => !ATTRIBUTION_LABELS.has(n))
    .sort();
  if (names.length === 0) return metric;
  return `${metric}{${names.map((n) => `${n}="${labels[n]}"`).join(',')}}`;
}

/** Most latest values read for one fleet query; larger fleets page by node. */
const MAX_LATEST = 100_000;

export async function entityStates(store: Store, query: EntityQuery): Promise<EntityState[]> {
  const [inventory, latest] = await Promise.all([
    store.inventory({
      cluster: query.cluster,
      clusters: query.clusters,
      node: query.node,
      source: query.source,
    }),
    store.latest(
      { cluster: query.cluster, clusters: query.clusters, node: query.node, source: query.source },
      MAX_LATEST,
    ),
  ]);
  const byEntity = new Map<string, LatestValue[]>();
  for (const v of latest) {
    const key = entityKey(v.series.cluster, v.series.node, v.series.entity);
    const list = byEntity.get(key);
    if (list) list.push(v);
    else byEntity.set(key, [v]);
  }
  return inventory
    .filter((item: InventoryRecord) => !item.absent && query.kinds.includes(item.kind))
    .map((item) => {
      const values = new Map<
        string,
        { value: number; timestampMs: number; labels: Record<string, string> }
      >();
      for (const v of byEntity.get(entityKey(item.cluster, item.node, item.entity)) ?? []) {
        values.set(valueKey(v.series.metric, v.series.labels), {
          value: v.value,
          timestampMs: v.timestampMs,
          labels: { ...v.series.labels },
        });
      }
      return { ...item, values };
    })
    .sort((a, b) => compareKey([a.cluster, a.node, a.entity], [b.cluster, b.node, b.entity]));
}

function entityKey(cluster: string, node: string, entity: string): string {
  return `${cluster}\u0000${node}\u0000${entity}`;
}

/** Position of an item in fleet order: (cluster, node, entity). */
export type EntityKey = readonly [cluster: string, node: string, entity: string];

/**
 * Fleet order; page() expects items sorted by it. Compares UTF-16 code
 * units, a total order: two different names never compare equal (a locale
 * collation does say 0 for `a\u0000` and `a`, or for composed and decomposed
 * accents, and a page would then resume past the second of the two).
 */
export function compareKey(a: EntityKey, b: EntityKey): number {
  return compareName(a[0], b[0]) || compareName(a[1], b[1]) || compareName(a[2], b[2]);
}

function compareName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Items (already in fleet order) after the key `after`, at most `limit`,
 * with the key of the last one when more remain (the route encodes it as
 * its list's cursor).
 */
export function page<T>(
  items: readonly T[],
  keyOf: (item: T) => EntityKey,
  after: EntityKey | null,
  limit: number,
): { items: T[]; next: EntityKey | null } {
  const start = after ? items.findIndex((item) => compareKey(keyOf(item), after) > 0) : 0;
  if (start < 0) return { items: [], next: null };
  const slice = items.slice(start, start + limit);
  const last = slice[slice.length - 1];
  return { items: slice, next: start + limit < items.length && last ? keyOf(last) : null };
}
