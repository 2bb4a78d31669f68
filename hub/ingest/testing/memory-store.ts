import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type {
  AgentRecord,
  Appender,
  BatchOutcome,
  BatchWrite,
  EnrollmentTokenInfo,
  EventQuery,
  EventRecord,
  InventoryQuery,
  InventoryRecord,
  LatestValue,
  SeriesIdentity,
  SeriesSelector,
  Store,
  StoredSeries,
} from '../../store/store.js';
import { compileSelector } from '../../stream/selector.js';

/**
 * An in-memory Store for unit tests of ingest's protocol logic. It keeps the
 * parts of the Store contract ingest relies on: duplicates by the agent's
 * sequence high-water mark, atomic commit (nothing is visible if commit
 * fails), idempotent series resolution, hashed enrollment tokens. The
 * read queries it answers (series, latest values, events, inventory, agents)
 * apply the same filters as the real store, the `cluster`/`clusters` scope
 * above all (an empty `clusters` list matches nothing), so an API test built
 * on it sees a scope leak instead of every row; the others throw.
 * `failNextCommit` simulates a database failure.
 */
export class MemoryStore implements Store {
  readonly info = { engine: 'pglite', version: 'memory' } as const;
  readonly samples: { seriesId: number; timestampMs: number; value: number }[] = [];
  readonly eventRows: EventRecord[] = [];
  readonly inventoryRows: InventoryRecord[] = [];
  readonly highWater = new Map<string, number>();
  readonly series: StoredSeries[] = [];
  commits = 0;
  failNextCommit = false;
  /** Delay before each commit resolves (to hold batches in flight). */
  commitDelayMs = 0;
  private readonly seriesByKey = new Map<string, number>();
  private readonly tokens = new Map<string, { hash: string; info: EnrollmentTokenInfo }>();
  private readonly agentRows = new Map<string, AgentRecord>();

  readonly enrollmentTokens = {
    create: async (cluster: string, description: string) => {
      const token = randomBytes(32).toString('base64url');
      const info: EnrollmentTokenInfo = {
        id: randomUUID(),
        cluster,
        description,
        createdMs: Date.now(),
        revokedMs: null,
      };
      this.tokens.set(info.id, { hash: sha256(token), info });
      return { info, token };
    },
    verify: async (token: string) => {
      const h = sha256(token);
      for (const t of this.tokens.values()) if (t.hash === h && t.info.revokedMs === null) return t.info;
      return null;
    },
    list: async (cluster?: string | readonly string[]) =>
      [...this.tokens.values()]
        .map((t) => t.info)
        .filter(
          (i) =>
            cluster === undefined ||
            (typeof cluster === 'string' ? i.cluster === cluster : cluster.includes(i.cluster)),
        ),
    revoke: async (id: string) => {
      const t = this.tokens.get(id);
      if (!t) return false;
      t.info = { ...t.info, revokedMs: Date.now() };
      return true;
    },
  };

  readonly agents = {
    recordHello: async (a: Omit<AgentRecord, 'lastSequence'>) => {
      this.agentRows.set(a.agentId, { ...a, lastSequence: this.highWater.get(a.agentId) ?? 0 });
    },
    list: async (cluster?: string | readonly string[]) =>
      [...this.agentRows.values()].filter(
        (a) =>
          cluster === undefined ||
          (typeof cluster === 'string' ? a.cluster === cluster : cluster.includes(a.cluster)),
      ),
  };

  readonly sql = {
    query: async (): Promise<never> => {
      throw new Error('MemoryStore has no SQL');
    },
    transaction: async (): Promise<never> => {
      throw new Error('MemoryStore has no SQL');
    },
  };

  async resolveSeries(identities: readonly SeriesIdentity[]): Promise<number[]> {
    return identities.map((s) => {
      const key = JSON.stringify([
        s.cluster,
        s.node,
        s.source,
        s.entity,
        s.metric,
        Object.entries(s.labels).sort(),
        s.kind,
      ]);
      let id = this.seriesByKey.get(key);
      if (id === undefined) {
        id = this.series.length + 1;
        this.seriesByKey.set(key, id);
        this.series.push({ ...s, id });
      }
      return id;
    });
  }

  async lastSequence(agentId: string): Promise<number> {
    return this.highWater.get(agentId) ?? 0;
  }

  appender(): Appender {
    const batches: BatchWrite[] = [];
    let used = false;
    return {
      add: (b) => {
        if (used) throw new Error('appender already used');
        batches.push(b);
      },
      rollback: () => {
        used = true;
        batches.length = 0;
      },
      commit: async () => {
        if (used) throw new Error('appender already used');
        used = true;
        if (this.commitDelayMs > 0) await new Promise((r) => setTimeout(r, this.commitDelayMs));
        if (this.failNextCommit) {
          this.failNextCommit = false;
          throw new Error('simulated commit failure');
        }
        // Decide every outcome first, then apply: all or nothing.
        const hw = new Map(this.highWater);
        const outcomes: BatchOutcome[] = batches.map((b) => {
          if (b.sequence <= (hw.get(b.agentId) ?? 0)) return 'duplicate';
          hw.set(b.agentId, b.sequence);
          return 'stored';
        });
        batches.forEach((b, i) => {
          if (outcomes[i] !== 'stored') return;
          for (let k = 0; k < b.seriesIds.length; k++) {
            this.samples.push({
              seriesId: b.seriesIds[k]!,
              timestampMs: b.timestampsMs[k]!,
              value: b.values[k]!,
            });
          }
          this.eventRows.push(...b.events);
          this.inventoryRows.push(...b.inventory);
        });
        for (const [a, s] of hw) this.highWater.set(a, s);
        this.commits++;
        return outcomes;
      },
    };
  }

  async findSeries(selector: SeriesSelector = {}, limit?: number): Promise<StoredSeries[]> {
    const matches = compileSelector({ ...selector, matchers: selector.matchers && [...selector.matchers] });
    const found = this.series.filter((s) => inScope(s.cluster, selector) && matches.matchesSeries(s));
    return limit === undefined ? found : found.slice(0, limit);
  }
  async queryRange(): Promise<never> {
    throw new Error('MemoryStore.queryRange is not implemented');
  }
  /** The newest sample of each matching series (series without samples are left out, as in PostgreSQL). */
  async latest(selector: SeriesSelector, limit?: number): Promise<LatestValue[]> {
    const series = await this.findSeries(selector, limit);
    const newest = new Map<number, { timestampMs: number; value: number }>();
    for (const sample of this.samples) {
      const seen = newest.get(sample.seriesId);
      if (!seen || sample.timestampMs >= seen.timestampMs) newest.set(sample.seriesId, sample);
    }
    return series.flatMap((s) => {
      const v = newest.get(s.id);
      return v ? [{ series: s, timestampMs: v.timestampMs, value: v.value }] : [];
    });
  }
  /** Newest first (ties: last stored first), at most `limit` (default 1000), like PostgreSQL. */
  async events(query: EventQuery): Promise<EventRecord[]> {
    const matches = compileSelector({
      cluster: query.cluster,
      node: query.node,
      source: query.source,
      entity: query.entity,
      kind: query.kind,
      minSeverity: query.minSeverity,
    });
    const limit = Math.min(Math.max(Math.trunc(query.limit ?? 1000), 1), 10_000);
    return this.eventRows
      .map((event, order) => ({ event, order }))
      .filter(
        ({ event }) =>
          inScope(event.cluster, query) &&
          matches.matchesEvent(event) &&
          (query.startMs === undefined || event.timestampMs >= query.startMs) &&
          (query.endMs === undefined || event.timestampMs <= query.endMs),
      )
      .sort((a, b) => b.event.timestampMs - a.event.timestampMs || b.order - a.order)
      .slice(0, limit)
      .map(({ event }) => event);
  }
  async eventPage(): Promise<never> {
    throw new Error('MemoryStore.eventPage is not implemented');
  }
  async seriesPage(): Promise<never> {
    throw new Error('MemoryStore.seriesPage is not implemented');
  }
  async inventory(query: InventoryQuery = {}): Promise<InventoryRecord[]> {
    return this.inventoryRows.filter(
      (i) =>
        inScope(i.cluster, query) &&
        (query.node === undefined || i.node === query.node) &&
        (query.source === undefined || i.source === query.source) &&
        (query.kind === undefined || i.kind === query.kind),
    );
  }
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** The store's cluster scope: `cluster` one cluster, `clusters` any of a list (empty: none), neither: all. */
function inScope(cluster: string, q: { cluster?: string; clusters?: readonly string[] }): boolean {
  return (
    (q.cluster === undefined || cluster === q.cluster) &&
    (q.clusters === undefined || q.clusters.includes(cluster))
  );
}
