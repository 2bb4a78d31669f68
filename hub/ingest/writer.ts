import type { Logger } from 'pino';
import { InputError, PermanentError, UnavailableError } from '../errors.js';
import type { BatchOutcome, BatchWrite, Store } from '../store/store.js';
import type { WriterLimits } from './limits.js';
import type { IngestMetrics } from './metrics.js';

/** One validated batch waiting to be committed. */
export interface WriteJob {
  readonly write: BatchWrite;
  readonly sampleCount: number;
  /** Called once with the store's outcome after commit, or with an error when the commit failed. */
  readonly done: (outcome: BatchOutcome | Error) => void;
}

/**
 * Group commit: validated batches from every stream queue here per agent;
 * the writer takes them round-robin (at most perAgentBatchesPerTurn per agent
 * per transaction, up to maxCommitSamples) into one Appender transaction, so one
 * transaction's fixed cost is shared and a flooding agent cannot push the
 * others' batches back by more than one transaction. Each agent has at most
 * one transaction in flight, so its batches reach the store in sequence order
 * even with several concurrent transactions.
 */
export class GroupCommitWriter {
  private readonly queues = new Map<string, WriteJob[]>();
  /** Agents with queued jobs, in round-robin order. */
  private ring: string[] = [];
  private cursor = 0;
  private readonly busy = new Set<string>();
  private inFlight = 0;
  private queued = 0;
  private queuedSamples = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly limits: WriterLimits,
    private readonly metrics: IngestMetrics,
    private readonly logger: Logger,
  ) {}

  /** Jobs of this agent waiting (not yet in a transaction). */
  queuedFor(agentId: string): number {
    return this.queues.get(agentId)?.length ?? 0;
  }

  submit(job: WriteJob): void {
    const agentId = job.write.agentId;
    let q = this.queues.get(agentId);
    if (!q) {
      q = [];
      this.queues.set(agentId, q);
      this.ring.push(agentId);
    }
    q.push(job);
    this.queued++;
    this.queuedSamples += job.sampleCount;
    this.metrics.queuedBatches.set(this.queued);
    this.pump();
  }

  /** Resolves when every submitted job has been committed (or failed). */
  drain(): Promise<void> {
    if (this.queued === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.inFlight < this.limits.concurrentCommits) {
      const jobs = this.take();
      if (jobs.length === 0) break;
      this.inFlight++;
      void this.commit(jobs);
    }
    if (this.queued === 0 && this.inFlight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /**
   * Takes the next transaction's jobs: one pass round-robin over agents that
   * are not busy, at most perAgentBatchesPerTurn batches each. Taking only a
   * part of an agent's window keeps the rest queued while this transaction
   * runs, so the agent's connection never idles waiting for acks to travel
   * and new batches to arrive. The transaction's size is the queued work
   * shared over the free connections (capped by maxCommitSamples), so
   * concurrent transactions split the work instead of one taking it all.
   */
  private take(): WriteJob[] {
    const jobs: WriteJob[] = [];
    const taken = new Set<string>();
    const free = Math.max(1, this.limits.concurrentCommits - this.inFlight);
    const target = Math.min(this.limits.maxCommitSamples, Math.max(1, Math.ceil(this.queuedSamples / free)));
    let samples = 0;
    const n = this.ring.length;
    for (let k = 0; k < n && samples < target && this.ring.length > 0; k++) {
      this.cursor %= this.ring.length;
      const agentId = this.ring[this.cursor]!;
      if (this.busy.has(agentId)) {
        this.cursor++;
        continue;
      }
      const q = this.queues.get(agentId)!;
      for (let i = 0; i < this.limits.perAgentBatchesPerTurn && q.length > 0; i++) {
        if (samples > 0 && samples + q[0]!.sampleCount > this.limits.maxCommitSamples) break;
        const job = q.shift()!;
        jobs.push(job);
        samples += job.sampleCount;
        this.queued--;
        this.queuedSamples -= job.sampleCount;
        taken.add(agentId);
      }
      if (q.length === 0) {
        this.queues.delete(agentId);
        this.ring.splice(this.cursor, 1);
      } else {
        this.cursor++;
      }
    }
    for (const a of taken) this.busy.add(a);
    this.metrics.queuedBatches.set(this.queued);
    return jobs;
  }

  private async commit(jobs: WriteJob[]): Promise<void> {
    const agents = new Set(jobs.map((j) => j.write.agentId));
    const outcomes = new Map<WriteJob, BatchOutcome | Error>();
    /** Agents with a batch that was not stored: their later batches must not be stored over the hole. */
    const failedAgents = new Set<string>();
    try {
      try {
        await this.commitTogether(jobs, outcomes);
      } catch (err) {
        if (!isDataError(err)) throw err;
        // One batch's data broke the transaction (a store-side check that
        // validation let through). Failing the whole group would have every
        // agent in it resend forever; committing one batch at a time stores
        // the others and refuses only the culprit, as invalid data.
        this.logger.warn(
          { err, batches: jobs.length },
          'ingest commit refused data; committing batch by batch',
        );
        if (jobs.length === 1) {
          failedAgents.add(jobs[0]!.write.agentId);
          outcomes.set(jobs[0]!, refusedData(jobs[0]!, err));
        }
        for (const job of jobs.length === 1 ? [] : jobs) {
          const agentId = job.write.agentId;
          if (failedAgents.has(agentId)) {
            outcomes.set(job, resendAfterFailure(undefined));
            continue;
          }
          try {
            await this.commitTogether([job], outcomes);
          } catch (jobErr) {
            failedAgents.add(agentId);
            outcomes.set(job, isDataError(jobErr) ? refusedData(job, jobErr) : resendAfterFailure(jobErr));
            if (!isDataError(jobErr)) this.logger.error({ err: jobErr }, 'ingest commit failed');
          }
        }
      }
    } catch (err) {
      this.logger.error({ err, batches: jobs.length }, 'ingest commit failed');
      const failure = resendAfterFailure(err);
      for (const job of jobs) if (!outcomes.has(job)) outcomes.set(job, failure);
      for (const a of agents) failedAgents.add(a);
    } finally {
      for (const a of agents) this.busy.delete(a);
      this.inFlight--;
    }
    // Later batches of these agents must not be stored over the hole a
    // failure leaves: fail them too; the agents resend from their last ack.
    for (const a of failedAgents) {
      const q = this.queues.get(a);
      if (!q) continue;
      this.queues.delete(a);
      this.ring = this.ring.filter((x) => x !== a);
      this.queued -= q.length;
      for (const job of q) {
        this.queuedSamples -= job.sampleCount;
        jobs.push(job);
        outcomes.set(job, resendAfterFailure(undefined));
      }
    }
    this.metrics.queuedBatches.set(this.queued);
    for (const job of jobs) {
      try {
        job.done(outcomes.get(job)!);
      } catch (err) {
        this.logger.error({ err }, 'ingest ack callback failed');
      }
    }
    this.pump();
  }

  /** Commits `jobs` in one transaction and records their outcomes; throws (recording nothing) when it fails. */
  private async commitTogether(
    jobs: WriteJob[],
    outcomes: Map<WriteJob, BatchOutcome | Error>,
  ): Promise<void> {
    const started = performance.now();
    // Within one transaction an agent's sequences must increase; a repeat
    // (the same batch from an old and a new stream) is a duplicate already.
    const lastAdded = new Map<string, number>();
    const added: WriteJob[] = [];
    const repeats: WriteJob[] = [];
    const appender = this.store.appender();
    for (const job of jobs) {
      const prev = lastAdded.get(job.write.agentId) ?? 0;
      if (job.write.sequence <= prev) {
        repeats.push(job);
        continue;
      }
      lastAdded.set(job.write.agentId, job.write.sequence);
      appender.add(job.write);
      added.push(job);
    }
    const results = added.length > 0 ? await appender.commit() : [];
    added.forEach((job, i) => outcomes.set(job, results[i] ?? 'duplicate'));
    // Only now is the earlier copy of a repeated sequence durable.
    for (const job of repeats) outcomes.set(job, 'duplicate');
    this.metrics.commitSeconds.observe((performance.now() - started) / 1000);
    this.metrics.commitBatches.observe(added.length);
  }
}

/** Errors the data itself causes: committing the same batch again can never succeed. */
function isDataError(err: unknown): boolean {
  return err instanceof PermanentError || err instanceof InputError;
}

function resendAfterFailure(cause: unknown): UnavailableError {
  return new UnavailableError('the store could not commit the batch; resend it', { cause });
}

/** A permanent refusal (INVALID_ARGUMENT at the edge): the agent sets the batch aside instead of resending it. */
function refusedData(job: WriteJob, cause: unknown): InputError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new InputError(`the store refused batch ${job.write.sequence}: ${why}`, { cause });
}
