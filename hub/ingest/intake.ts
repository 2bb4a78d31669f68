import type { Logger } from 'pino';
import type { BatchResultOut, DecodedBatch, HelloIn } from '../codec/ingest-codec.js';
import { AuthenticationError, ForbiddenError, InputError, RateLimitedError } from '../errors.js';
import type { Bus, SampleMessage } from '../bus/bus.js';
import type { BatchOutcome, Store } from '../store/store.js';
import type { IngestLimits } from './limits.js';
import type { IngestMetrics } from './metrics.js';
import { RejectionTally } from './rejections.js';
import { AGENT_ID } from './rules.js';
import type { SeriesTable } from './series-table.js';
import { sampleCountOf, validateBatchData, type ValidBatchData } from './validate-batch.js';
import type { GroupCommitWriter } from './writer.js';

/** What stream sessions and Push share. */
export interface IngestContext {
  readonly store: Store;
  readonly bus: Bus | undefined;
  readonly limits: IngestLimits;
  readonly writer: GroupCommitWriter;
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
  readonly nowMs: () => number;
  /**
   * With mutual TLS: checks that the call's verified client certificate is
   * bound to the cluster the agent claims (throws AuthenticationError or
   * ForbiddenError). Called after the token's cluster matched Hello.
   */
  readonly peerCheck?: PeerCheck;
  /** Told of every refused authentication or authorization (the hub's audit log listens). */
  readonly onAccessDenied?: AccessDeniedHook;
}

/** A refused ingest call: who it claimed to be and why it was refused; never the token. */
export interface AccessDenied {
  readonly rpc: 'stream' | 'push';
  readonly outcome: 'unauthenticated' | 'forbidden';
  readonly reason: string;
  readonly peer: string;
  readonly cluster?: string;
  readonly agentId?: string;
}

export type AccessDeniedHook = (denied: AccessDenied) => void;

/** The AccessDenied record of an error, when it is an authentication or authorization refusal. */
export function accessDeniedOf(
  err: unknown,
  rpc: AccessDenied['rpc'],
  peer: string,
  hello: { cluster?: string; agentId?: string } | undefined,
): AccessDenied | undefined {
  const outcome =
    err instanceof AuthenticationError
      ? 'unauthenticated'
      : err instanceof ForbiddenError
        ? 'forbidden'
        : undefined;
  if (!outcome) return undefined;
  return {
    rpc,
    outcome,
    reason: (err as Error).message,
    peer,
    cluster: hello?.cluster,
    agentId: hello?.agentId,
  };
}

/** `call.getAuthContext()` of grpc-js and the cluster named in Hello. */
export type PeerCheck = (authContext: unknown, cluster: string) => void;

/** A batch after validation, ready for the writer. */
export interface PreparedBatch {
  readonly sequence: number;
  readonly data: ValidBatchData;
  readonly tally: RejectionTally;
}

/** Checks Hello's own fields (the cluster is checked against the token by the caller). */
export function checkHello(hello: HelloIn | undefined): HelloIn {
  if (!hello) throw new InputError('Hello is missing');
  if (!AGENT_ID.test(hello.agentId)) {
    throw new InputError('Hello.agent_id must be 1..128 characters of [A-Za-z0-9._:-]');
  }
  if (hello.cluster.length === 0 || hello.cluster.length > 253)
    throw new InputError('Hello.cluster must be 1..253 characters');
  if (hello.node.length === 0 || hello.node.length > 253)
    throw new InputError('Hello.node must be 1..253 characters');
  if (hello.version.length > 256) throw new InputError('Hello.version must be at most 256 characters');
  if (hello.capabilities.length > 64 || hello.capabilities.some((c) => c.length > 64)) {
    throw new InputError('Hello.capabilities must be at most 64 entries of at most 64 characters');
  }
  return hello;
}

/**
 * Whole-batch limits: a batch over them is refused entirely (the agent must
 * split it), so the call fails rather than silently storing part of it.
 */
export function checkBatchShape(batch: DecodedBatch, limits: IngestLimits): void {
  if (batch.sequence === 0) throw new InputError('Batch.sequence must be >= 1');
  const samples = sampleCountOf(batch);
  if (samples > limits.maxSamplesPerBatch) {
    throw new RateLimitedError(
      `batch ${batch.sequence} has ${samples} samples; max_samples_per_batch is ${limits.maxSamplesPerBatch}`,
    );
  }
  if (batch.events.length > limits.maxEventsPerBatch) {
    throw new RateLimitedError(
      `batch ${batch.sequence} has ${batch.events.length} events; the limit is ${limits.maxEventsPerBatch}`,
    );
  }
  if (batch.inventory.length > limits.maxInventoryPerBatch) {
    throw new RateLimitedError(
      `batch ${batch.sequence} has ${batch.inventory.length} inventory facts; the limit is ${limits.maxInventoryPerBatch}`,
    );
  }
}

/** Defines the batch's series, then validates its samples, events and facts. */
export async function prepareBatch(
  ctx: IngestContext,
  table: SeriesTable,
  hello: HelloIn,
  batch: DecodedBatch,
): Promise<PreparedBatch> {
  const tally = new RejectionTally();
  await table.define(batch.series, ctx.store, tally);
  const data = validateBatchData(batch, table, hello, ctx.limits, ctx.nowMs(), tally);
  for (const r of tally.toArray()) ctx.metrics.rejections.inc({ reason: r.reason }, r.count);
  return { sequence: batch.sequence, data, tally };
}

/** Hands a prepared batch to the group-commit writer. */
export function submitBatch(
  ctx: IngestContext,
  agentId: string,
  prepared: PreparedBatch,
  done: (outcome: BatchOutcome | Error) => void,
): void {
  const { data } = prepared;
  ctx.writer.submit({
    sampleCount: data.sampleCount,
    write: {
      agentId,
      sequence: prepared.sequence,
      seriesIds: data.seriesIds,
      timestampsMs: data.timestampsMs,
      values: data.values,
      events: data.events,
      inventory: data.inventory,
    },
    done,
  });
}

/** The Ack/PushResponse result for a batch once its outcome is known. */
export function resultOf(prepared: PreparedBatch | undefined, outcome: BatchOutcome): BatchResultOut {
  if (!prepared || outcome === 'duplicate') {
    return {
      samplesStored: 0,
      eventsStored: 0,
      inventoryStored: 0,
      rejections: prepared?.tally.toArray() ?? [],
    };
  }
  return {
    samplesStored: prepared.data.sampleCount,
    eventsStored: prepared.data.events.length,
    inventoryStored: prepared.data.inventory.length,
    rejections: prepared.tally.toArray(),
  };
}

/** Counts a committed batch and publishes it to the bus (subscribers see only durable data). */
export function afterCommit(
  ctx: IngestContext,
  cluster: string,
  prepared: PreparedBatch,
  outcome: BatchOutcome,
): void {
  if (outcome === 'duplicate') {
    ctx.metrics.duplicates.inc();
    return;
  }
  const { data } = prepared;
  ctx.metrics.batchesStored.inc();
  ctx.metrics.samplesStored.inc(data.sampleCount);
  ctx.metrics.eventsStored.inc(data.events.length);
  ctx.metrics.inventoryStored.inc(data.inventory.length);
  if (!ctx.bus || (data.sampleCount === 0 && data.events.length === 0)) return;
  const samples: SampleMessage[] = data.runSeries.map((series, i) => ({
    series,
    timestampsMs: Array.from(data.timestampsMs.subarray(data.runStart[i], data.runEnd[i])),
    values: Array.from(data.values.subarray(data.runStart[i], data.runEnd[i])),
  }));
  try {
    ctx.bus.publish({ cluster, samples, events: data.events });
  } catch (err) {
    // The bus is fire-and-forget; a failing bus must never fail ingest.
    ctx.logger.warn({ err }, 'bus publish failed');
  }
}
