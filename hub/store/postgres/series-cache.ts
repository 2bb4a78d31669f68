import type { SeriesIdentity } from '../store.js';

/**
 * Canonical string of a series identity: labels sorted by name, so two
 * identities that differ only in label order share one key (and one id).
 */
export function identityKey(id: SeriesIdentity): string {
  const labels = Object.keys(id.labels)
    .sort()
    .map((k) => [k, id.labels[k]]);
  return JSON.stringify([id.cluster, id.node, id.source, id.entity, id.metric, id.kind, labels]);
}

/**
 * Bounded identity-key -> series id cache (least recently used evicted).
 * Ids never change once assigned, so entries never go stale; the bound only
 * caps memory when series churn.
 */
export class SeriesCache {
  private readonly map = new Map<string, number>();

  constructor(readonly maxEntries: number) {}

  get(key: string): number | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      // Re-insert to mark as recently used (Map keeps insertion order).
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: string, id: number): void {
    this.map.delete(key);
    this.map.set(key, id);
    while (this.map.size > this.maxEntries) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
    }
  }

  get size(): number {
    return this.map.size;
  }
}
