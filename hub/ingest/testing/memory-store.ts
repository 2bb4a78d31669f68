import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type {
  AgentRecord,
  Appender,
  BatchOutcome,
  BatchWrite,
  EnrollmentTokenInfo,
  EventRecord,
  InventoryRecord,
  SeriesIdentity,
  Store,
  StoredSeries,
} from '../../store/store.js';

/**
 * An in-memory Store for unit tests of ingest's protocol logic. It keeps the
 * parts of the Store contract ingest relies on: duplicates by the agent's
 * sequence high-water mark, atomic commit (nothing is visible if commit
 * fails), idempotent series resolution, hashed enrollment tokens. Queries
 * other than those tests need throw. `failNextCommit` simulates a database
 * failure.
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
    list: async () => [...this.agentRows.values()],
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

  async findSeries(): Promise<StoredSeries[]> {
    return [...this.series];
  }
  async queryRange(): Promise<never> {
    throw new Error('MemoryStore.queryRange is not implemented');
  }
  async latest(): Promise<never> {
    throw new Error('MemoryStore.latest is not implemented');
  }
  async events(): Promise<EventRecord[]> {
    return [...this.eventRows];
  }
  async eventPage(): Promise<never> {
    throw new Error('MemoryStore.eventPage is not implemented');
  }
  async seriesPage(): Promise<never> {
    throw new Error('MemoryStore.seriesPage is not implemented');
  }
  async inventory(): Promise<InventoryRecord[]> {
    return [...this.inventoryRows];
  }
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
