import type { ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import {
  decodePushRequest,
  encodePushResponse,
  WireError,
  type PushResponseOut,
} from '../codec/ingest-codec.js';
import { AppError, ConflictError, InputError, RateLimitedError, UnavailableError } from '../errors.js';
import type { BatchOutcome } from '../store/store.js';
import { assertAgentCluster, authenticateAgent, bearerToken, type AgentAuthenticator } from './auth.js';
import {
  afterCommit,
  checkBatchShape,
  checkHello,
  prepareBatch,
  resultOf,
  submitBatch,
  type IngestContext,
  accessDeniedOf,
} from './intake.js';
import { SeriesTable } from './series-table.js';
import { statusName, toGrpcStatus } from './status.js';
import { sampleCountOf } from './validate-batch.js';

/**
 * The unary Push: one self-contained batch (its own series table) with the
 * same validation and sequence rules as the stream, answered after commit.
 * An agent's Push calls must be sequential: the next one after the previous
 * response, since each is checked against the store's high-water mark.
 */
export async function handlePush(
  ctx: IngestContext,
  auth: AgentAuthenticator,
  call: ServerUnaryCall<Buffer, Buffer>,
  callback: sendUnaryData<Buffer>,
): Promise<void> {
  try {
    const response = await push(ctx, auth, call);
    callback(null, encodePushResponse(response));
  } catch (err) {
    const status = toGrpcStatus(err);
    const log =
      err instanceof AppError ? ctx.logger.warn.bind(ctx.logger) : ctx.logger.error.bind(ctx.logger);
    log({ err, grpcCode: statusName(status.code) }, 'ingest push refused');
    ctx.metrics.streamErrors.inc({ code: statusName(status.code) });
    const denied = accessDeniedOf(err, 'push', call.getPeer(), undefined);
    if (denied) ctx.onAccessDenied?.(denied);
    callback(status, null);
  }
}

async function push(
  ctx: IngestContext,
  auth: AgentAuthenticator,
  call: ServerUnaryCall<Buffer, Buffer>,
): Promise<PushResponseOut> {
  const principal = await authenticateAgent(auth, bearerToken(call.metadata.get('authorization')));

  let request;
  try {
    request = decodePushRequest(call.request);
  } catch (err) {
    if (err instanceof WireError)
      throw new InputError(`malformed PushRequest: ${err.message}`, { cause: err });
    throw err;
  }
  const hello = checkHello(request.hello);
  assertAgentCluster(principal, hello.cluster, { check: ctx.peerCheck, authContext: call.getAuthContext() });
  const batch = request.batch;
  if (!batch) throw new InputError('PushRequest.batch is missing');
  ctx.metrics.batchesReceived.inc({ rpc: 'push' });
  ctx.metrics.samplesReceived.inc({ rpc: 'push' }, sampleCountOf(batch));
  checkBatchShape(batch, ctx.limits);
  if (ctx.writer.queuedFor(hello.agentId) >= ctx.limits.window) {
    throw new RateLimitedError(
      `agent ${hello.agentId} already has ${ctx.limits.window} batches waiting; wait for their responses`,
    );
  }

  let lastStored: number;
  try {
    lastStored = await ctx.store.lastSequence(hello.agentId);
    await ctx.store.agents.recordHello({
      agentId: hello.agentId,
      cluster: hello.cluster,
      node: hello.node,
      version: hello.version,
      capabilities: hello.capabilities,
      lastSeenMs: ctx.nowMs(),
    });
  } catch (err) {
    throw new UnavailableError('the store is unavailable; retry', { cause: err });
  }
  const seq = batch.sequence;
  if (seq <= lastStored) {
    ctx.metrics.duplicates.inc();
    return { ackedSequence: seq, duplicate: true, result: resultOf(undefined, 'duplicate') };
  }
  if (seq - batch.droppedBefore - 1 > lastStored) {
    throw new ConflictError(
      `sequence gap: batch ${seq} with dropped_before ${batch.droppedBefore} does not follow ${lastStored}, ` +
        `the last sequence stored for agent ${hello.agentId}; send ${lastStored + 1} next, ` +
        'or count the sequences you dropped in dropped_before',
    );
  }

  const table = new SeriesTable(hello.cluster, hello.node, ctx.limits);
  let prepared;
  try {
    prepared = await prepareBatch(ctx, table, hello, batch);
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new UnavailableError('the store could not resolve series; retry', { cause: err });
  }
  const outcome = await new Promise<BatchOutcome>((resolve, reject) =>
    submitBatch(ctx, hello.agentId, prepared, (o) => (o instanceof Error ? reject(o) : resolve(o))),
  );
  afterCommit(ctx, hello.cluster, prepared, outcome);
  return { ackedSequence: seq, duplicate: outcome === 'duplicate', result: resultOf(prepared, outcome) };
}
