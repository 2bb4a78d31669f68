import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { InputError, PermanentError, UnavailableError } from '../errors.js';
import type { Appender, BatchOutcome, BatchWrite } from '../store/store.js';
import { DEFAULT_WRITER_LIMITS } from './limits.js';
import { createIngestMetrics } from './metrics.js';
import { MemoryStore } from './testing/memory-store.js';
import { GroupCommitWriter } from './writer.js';

/**
 * A store whose transactions fail the way PostgreSQL's do when one batch's
 * data breaks a constraint: the whole transaction is refused, with a
 * PermanentError (class 23), whatever else it held.
 */
class RefusingStore extends MemoryStore {
  /** Transactions attempted (MemoryStore's own `commits` counts only successful ones). */
  attempts = 0;
  constructor(
    private readonly refuses: (b: BatchWrite) => boolean,
    /** 'store': fail like a lost connection (retryable) instead. */
    private readonly failure: 'data' | 'store' = 'data',
  ) {
    super();
  }
  override appender(): Appender {
    const inner = super.appender();
    const added: BatchWrite[] = [];
    return {
      add: (b) => {
        added.push(b);
        inner.add(b);
      },
      rollback: () => inner.rollback(),
      commit: async () => {
        this.attempts++;
        if (added.some(this.refuses)) {
          inner.rollback();
          if (this.failure === 'store') throw new Error('connection terminated unexpectedly');
          throw new PermanentError('insert into samples: violates check constraint');
        }
        return inner.commit();
      },
    };
  }
}

const batch = (agentId: string, sequence: number): BatchWrite => ({
  agentId,
  sequence,
  seriesIds: [1],
  timestampsMs: [sequence],
  values: [sequence],
  events: [],
  inventory: [],
});

/**
 * Submits a lone batch first, whose slow commit holds the writer's only
 * connection while `batches` queue, so they then share one transaction.
 */
async function run(store: RefusingStore, batches: BatchWrite[]): Promise<(BatchOutcome | Error)[]> {
  const writer = new GroupCommitWriter(
    store,
    { ...DEFAULT_WRITER_LIMITS, concurrentCommits: 1, perAgentBatchesPerTurn: 8 },
    createIngestMetrics(new Registry()),
    pino({ level: 'silent' }),
  );
  store.commitDelayMs = 50;
  const first = new Promise((resolve) =>
    writer.submit({ write: batch('first', 1), sampleCount: 1, done: resolve }),
  );
  const outcomes = batches.map(
    (write) =>
      new Promise<BatchOutcome | Error>((resolve) => writer.submit({ write, sampleCount: 1, done: resolve })),
  );
  await writer.drain();
  expect(await first).toBe('stored');
  store.attempts--;
  return Promise.all(outcomes);
}

describe('GroupCommitWriter', () => {
  it('stores a whole group in one transaction', async () => {
    const store = new RefusingStore(() => false);
    const outcomes = await run(store, [batch('a', 1), batch('b', 1), batch('a', 2)]);
    expect(outcomes).toEqual(['stored', 'stored', 'stored']);
    expect(store.attempts).toBe(1);
  });

  it('refuses only the batch whose data the store refuses, stores the others, and holds back that agent', async () => {
    const store = new RefusingStore((b) => b.agentId === 'bad' && b.sequence === 2);
    const outcomes = await run(store, [
      batch('good', 1),
      batch('bad', 1),
      batch('bad', 2),
      batch('other', 1),
      batch('bad', 3),
    ]);
    expect(outcomes[0]).toBe('stored');
    expect(outcomes[1]).toBe('stored');
    // The culprit is refused as invalid data (INVALID_ARGUMENT), naming its sequence: not resent.
    expect(outcomes[2]).toBeInstanceOf(InputError);
    expect((outcomes[2] as Error).message).toContain('the store refused batch 2');
    expect(outcomes[3]).toBe('stored');
    // Its agent's later batch is not stored over the hole: resend after the refusal is handled.
    expect(outcomes[4]).toBeInstanceOf(UnavailableError);
    // first, good 1, bad 1, other 1.
    expect(store.samples).toHaveLength(4);
  });

  it('fails the whole group as retryable when the store itself fails', async () => {
    const store = new RefusingStore((b) => b.agentId === 'a', 'store');
    const outcomes = await run(store, [batch('a', 1), batch('b', 1)]);
    expect(outcomes.every((o) => o instanceof UnavailableError)).toBe(true);
    expect(store.attempts).toBe(1);
  });
});
