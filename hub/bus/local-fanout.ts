import type { Logger } from 'pino';
import type { BusBatch } from './bus.js';

type Handler = (batch: BusBatch) => void;

/**
 * The subscriber table both bus implementations share: handlers by cluster,
 * plus '*' handlers that see every cluster. A throwing handler is logged and
 * skipped so one broken subscriber cannot starve the others.
 */
export class LocalFanout {
  private readonly handlers = new Map<string, Set<Handler>>();

  constructor(private readonly logger?: Logger) {}

  /** Adds a handler; `onFirst` runs when the key gains its first handler, `onLast` when it loses it. */
  add(key: string, handler: Handler, hooks: { onFirst?: () => void; onLast?: () => void } = {}): () => void {
    let set = this.handlers.get(key);
    if (!set) {
      set = new Set();
      this.handlers.set(key, set);
      hooks.onFirst?.();
    }
    // Wrap so the same function subscribed twice gets two independent subscriptions.
    const entry: Handler = (batch) => handler(batch);
    set.add(entry);
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      const current = this.handlers.get(key);
      if (!current) return;
      current.delete(entry);
      if (current.size === 0) {
        this.handlers.delete(key);
        hooks.onLast?.();
      }
    };
  }

  /** Calls the handlers of the batch's cluster (when `key` is undefined, both cluster and '*'). */
  deliver(batch: BusBatch, key?: string): void {
    if (key === undefined) {
      this.call(this.handlers.get(batch.cluster), batch);
      this.call(this.handlers.get('*'), batch);
    } else {
      this.call(this.handlers.get(key), batch);
    }
  }

  has(key: string): boolean {
    return this.handlers.has(key);
  }

  keys(): string[] {
    return [...this.handlers.keys()];
  }

  clear(): void {
    this.handlers.clear();
  }

  private call(set: Set<Handler> | undefined, batch: BusBatch): void {
    if (!set) return;
    for (const handler of set) {
      try {
        handler(batch);
      } catch (err) {
        this.logger?.error({ err, cluster: batch.cluster }, 'bus subscriber threw');
      }
    }
  }
}
