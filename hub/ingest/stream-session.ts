import type { ServerDuplexStream } from '@grpc/grpc-js';
import {
  decodeStreamRequest,
  encodeStreamResponse,
  WireError,
  type BatchResultOut,
  type CollectorConfigOut,
  type DecodedBatch,
  type HelloIn,
  type StreamResponseOut,
} from '../codec/ingest-codec.js';
import { AppError, ConflictError, InputError, RateLimitedError, UnavailableError } from '../errors.js';
import type { AgentAuthenticator, AgentPrincipal } from './auth.js';
import { assertAgentCluster, authenticateAgent, bearerToken } from './auth.js';
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

export type IngestCall = ServerDuplexStream<Buffer, Buffer>;

/** Lets the server track sessions by agent and by token. */
export interface SessionHooks {
  /** Called when Hello is accepted, before Welcome is sent. */
  onReady(session: StreamSession): void;
  onClosed(session: StreamSession): void;
}

interface PendingAck {
  readonly sequence: number;
  done: boolean;
  duplicate: boolean;
  result: BatchResultOut;
}

const EMPTY_RESULT: BatchResultOut = {
  samplesStored: 0,
  eventsStored: 0,
  inventoryStored: 0,
  rejections: [],
};

/**
 * One agent stream, as a small state machine: authenticate -> Hello ->
 * batches. Incoming messages are decoded as they arrive (so the window and
 * message order are checked at once) and then handled one at a time in
 * arrival order; validated batches go to the group-commit writer, and their
 * acks leave strictly in sequence order once committed.
 */
export class StreamSession {
  principal: AgentPrincipal | undefined;
  hello: HelloIn | undefined;
  private state: 'open' | 'closed' = 'open';
  private sawHello = false;
  private ready = false;
  private halfClosed = false;
  private draining = false;
  private table: SeriesTable | undefined;
  /** Highest sequence accepted on this stream (stored or queued), starting at the store's high-water mark. */
  private lastSeen = 0;
  /** Batches received and not yet acknowledged (what the window limits). */
  private unacked = 0;
  private readonly pending: PendingAck[] = [];
  private chain: Promise<void> = Promise.resolve();
  private steps = 0;

  constructor(
    private readonly ctx: IngestContext,
    private readonly call: IngestCall,
    private readonly auth: AgentAuthenticator,
    private readonly hooks: SessionHooks,
    private readonly collectors: () => readonly CollectorConfigOut[],
  ) {}

  get closed(): boolean {
    return this.state === 'closed';
  }

  get agentId(): string | undefined {
    return this.ready ? this.hello?.agentId : undefined;
  }

  start(): void {
    this.ctx.metrics.activeStreams.inc();
    const token = bearerToken(this.call.metadata.get('authorization'));
    this.enqueue(() => this.authenticate(token));
    this.call.on('data', (buf: Buffer) => this.onData(buf));
    this.call.on('end', () => {
      this.halfClosed = true;
      this.maybeFinish();
    });
    this.call.on('cancelled', () => this.close());
    // Errors we emit ourselves come back here; transport errors end the call.
    this.call.on('error', () => this.close());
  }

  /** Pushes new collector configuration to the agent. */
  sendConfig(collectors: readonly CollectorConfigOut[]): void {
    if (this.ready) this.send({ kind: 'config', collectors });
  }

  /** Ends the stream with the status that `err` maps to. Safe to call more than once. */
  fail(err: unknown, expected = false): void {
    if (this.closed) return;
    const status = toGrpcStatus(err);
    const fields = {
      agentId: this.hello?.agentId,
      grpcCode: statusName(status.code),
      details: status.details,
    };
    if (expected) this.ctx.logger.info(fields, 'ingest stream ended');
    else if (err instanceof AppError)
      this.ctx.logger.warn({ ...fields, err }, 'ingest stream ended with an error');
    else this.ctx.logger.error({ ...fields, err }, 'ingest stream ended with an internal error');
    this.ctx.metrics.streamErrors.inc({ code: statusName(status.code) });
    const denied = accessDeniedOf(err, 'stream', this.call.getPeer(), this.hello);
    if (denied) this.ctx.onAccessDenied?.(denied);
    this.close();
    this.call.emit('error', status);
  }

  /**
   * Server shutdown: stop taking batches, let those already received commit
   * and be acknowledged, then end the stream with UNAVAILABLE so the agent
   * reconnects (to this hub when it is back, or to another replica).
   */
  beginDrain(): void {
    this.draining = true;
    this.maybeFinish();
  }

  private close(): void {
    if (this.closed) return;
    this.state = 'closed';
    this.ctx.metrics.activeStreams.dec();
    this.hooks.onClosed(this);
  }

  private enqueue(step: () => Promise<void>): void {
    this.steps++;
    this.chain = this.chain
      .then(() => (this.closed ? undefined : step()))
      .catch((err: unknown) => this.fail(err))
      .finally(() => {
        this.steps--;
        this.maybeFinish();
      });
  }

  private onData(buf: Buffer): void {
    if (this.closed || this.draining) return;
    let msg;
    try {
      msg = decodeStreamRequest(buf);
    } catch (err) {
      if (err instanceof WireError)
        this.fail(new InputError(`malformed StreamRequest: ${err.message}`, { cause: err }));
      else this.fail(err);
      return;
    }
    if (msg.kind === 'empty') {
      this.fail(new InputError('StreamRequest carries neither hello nor batch'));
    } else if (msg.kind === 'hello') {
      if (this.sawHello) {
        this.fail(new ConflictError('Hello may be sent only once per stream'));
        return;
      }
      this.sawHello = true;
      const hello = msg.hello;
      this.enqueue(() => this.onHello(hello));
    } else {
      if (!this.sawHello) {
        this.fail(new ConflictError('the first message of a stream must be Hello'));
        return;
      }
      const batch = msg.batch;
      this.ctx.metrics.batchesReceived.inc({ rpc: 'stream' });
      this.ctx.metrics.samplesReceived.inc({ rpc: 'stream' }, sampleCountOf(batch));
      this.unacked++;
      if (this.unacked > this.ctx.limits.window) {
        this.fail(
          new RateLimitedError(
            `window exceeded: batch ${batch.sequence} would be unacknowledged batch number ${this.unacked}; the window is ${this.ctx.limits.window}`,
          ),
        );
        return;
      }
      this.enqueue(() => this.onBatch(batch));
    }
  }

  private async authenticate(token: string | undefined): Promise<void> {
    this.principal = await authenticateAgent(this.auth, token);
  }

  private async onHello(raw: HelloIn): Promise<void> {
    const hello = checkHello(raw);
    assertAgentCluster(this.principal!, hello.cluster, {
      check: this.ctx.peerCheck,
      authContext: this.call.getAuthContext(),
    });
    let lastStored: number;
    try {
      lastStored = await this.ctx.store.lastSequence(hello.agentId);
      await this.ctx.store.agents.recordHello({
        agentId: hello.agentId,
        cluster: hello.cluster,
        node: hello.node,
        version: hello.version,
        capabilities: hello.capabilities,
        lastSeenMs: this.ctx.nowMs(),
      });
    } catch (err) {
      throw new UnavailableError('the store is unavailable; retry', { cause: err });
    }
    if (this.closed) return;
    this.hello = hello;
    this.table = new SeriesTable(hello.cluster, hello.node, this.ctx.limits);
    this.lastSeen = lastStored;
    this.ready = true;
    this.hooks.onReady(this);
    const { limits } = this.ctx;
    this.send({
      kind: 'welcome',
      lastAckedSequence: lastStored,
      window: limits.window,
      limits: {
        maxMessageBytes: limits.maxMessageBytes,
        maxSamplesPerBatch: limits.maxSamplesPerBatch,
        maxSeriesPerStream: limits.maxSeriesPerStream,
        maxLabelsPerSeries: limits.maxLabelsPerSeries,
        maxLabelValueLength: limits.maxLabelValueLength,
        maxSampleAgeMs: limits.maxSampleAgeMs,
        maxFutureSkewMs: limits.maxFutureSkewMs,
      },
      collectors: this.collectors(),
    });
    this.ctx.logger.info(
      {
        agentId: hello.agentId,
        cluster: hello.cluster,
        node: hello.node,
        version: hello.version,
        lastStored,
      },
      'agent stream opened',
    );
  }

  private async onBatch(batch: DecodedBatch): Promise<void> {
    const hello = this.hello!;
    checkBatchShape(batch, this.ctx.limits);
    const seq = batch.sequence;
    if (seq <= this.lastSeen) {
      // Redelivery of something stored or queued: acknowledge (in order) and write nothing.
      this.pending.push({ sequence: seq, done: true, duplicate: true, result: EMPTY_RESULT });
      this.ctx.metrics.duplicates.inc();
      this.flushAcks();
      return;
    }
    if (seq - batch.droppedBefore - 1 > this.lastSeen) {
      // Another replica may have stored this agent's batches since Welcome
      // (an agent briefly connected to two hubs): the database decides.
      const stored = await this.ctx.store.lastSequence(hello.agentId).catch(() => 0);
      if (stored > this.lastSeen) this.lastSeen = stored;
      if (seq <= this.lastSeen) {
        this.pending.push({ sequence: seq, done: true, duplicate: true, result: EMPTY_RESULT });
        this.ctx.metrics.duplicates.inc();
        this.flushAcks();
        return;
      }
    }
    if (seq - batch.droppedBefore - 1 > this.lastSeen) {
      throw new ConflictError(
        `sequence gap: batch ${seq} with dropped_before ${batch.droppedBefore} does not follow ${this.lastSeen}, ` +
          `the last sequence stored or accepted for agent ${hello.agentId}; send ${this.lastSeen + 1} next, ` +
          'or count the sequences you dropped in dropped_before',
      );
    }
    this.lastSeen = seq;
    let prepared;
    try {
      prepared = await prepareBatch(this.ctx, this.table!, hello, batch);
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw new UnavailableError('the store could not resolve series; retry', { cause: err });
    }
    if (this.closed) return;
    const entry: PendingAck = { sequence: seq, done: false, duplicate: false, result: EMPTY_RESULT };
    this.pending.push(entry);
    submitBatch(this.ctx, hello.agentId, prepared, (outcome) => {
      if (outcome instanceof Error) {
        this.fail(outcome);
        return;
      }
      afterCommit(this.ctx, hello.cluster, prepared, outcome);
      entry.done = true;
      entry.duplicate = outcome === 'duplicate';
      entry.result = resultOf(prepared, outcome);
      this.flushAcks();
    });
  }

  /** Sends the acks of every leading batch that is done, in sequence order. */
  private flushAcks(): void {
    while (this.pending.length > 0 && this.pending[0]!.done) {
      const p = this.pending.shift()!;
      this.unacked--;
      if (!this.closed) {
        this.send({
          kind: 'ack',
          sequence: p.sequence,
          window: this.ctx.limits.window,
          result: p.result,
          duplicate: p.duplicate,
        });
      }
    }
    this.maybeFinish();
  }

  /** Ends the stream once the agent half-closed (OK) or the server drains (UNAVAILABLE) and nothing is pending. */
  private maybeFinish(): void {
    if (this.closed || this.steps > 0 || this.pending.length > 0) return;
    if (this.draining) {
      this.fail(
        new UnavailableError('the hub is shutting down; reconnect and resume after the last ack'),
        true,
      );
    } else if (this.halfClosed) {
      this.close();
      this.call.end();
    }
  }

  private send(msg: StreamResponseOut): void {
    this.call.write(encodeStreamResponse(msg));
  }
}
