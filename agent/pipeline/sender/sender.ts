import {
  Metadata,
  status as GrpcStatus,
  type ChannelCredentials,
  type ClientDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { decodeBatch } from '../../encode/batch.js';
import {
  IngestServiceClient,
  rejectReasonToJSON,
  type Ack,
  type AgentConfig,
  type Batch,
  type Hello,
  type Limits,
  type StreamRequest,
  type StreamResponse,
  type Welcome,
} from '../../encode/ingest-client.js';
import type { AgentMetrics } from '../../ops/metrics.js';
import type { Spool } from '../spool/spool.js';
import { Backoff } from './backoff.js';

export interface SenderOptions {
  /** Hub gRPC address, host:port. */
  readonly address: string;
  readonly credentials: ChannelCredentials;
  /** Read at every connection attempt, so a rotated token file is picked up without a restart. */
  readonly token: () => string | undefined;
  readonly hello: Hello;
  readonly spool: Spool;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** Delay before retrying after a permanent rejection (bad token, invalid data). */
  readonly permanentRetryMs: number;
  /** A stream that has not answered Hello within this is abandoned and retried. */
  readonly welcomeTimeoutMs: number;
  /**
   * The decoded form of a recently spooled batch, when the writer still has
   * it: spares decoding what was just encoded when the hub keeps up. Never
   * mutated by the sender.
   */
  readonly recent?: (sequence: number) => Batch | undefined;
  /** The hub's limits, from every Welcome (the agent sizes its batches by them). */
  readonly onLimits?: (limits: Limits) => void;
  /** Collector configuration the hub pushed (in Welcome or later). */
  readonly onConfig?: (config: AgentConfig) => void;
}

export type SenderState = 'idle' | 'connecting' | 'streaming' | 'backoff' | 'rejected' | 'stopped';

/** gRPC codes that retrying the same thing cannot fix. */
const PERMANENT = new Set<number>([
  GrpcStatus.UNAUTHENTICATED,
  GrpcStatus.PERMISSION_DENIED,
  GrpcStatus.INVALID_ARGUMENT,
]);

/**
 * Codes with which the hub refuses a batch as a whole (docs/protocol.md):
 * INVALID_ARGUMENT for a malformed one, RESOURCE_EXHAUSTED for one over the
 * limits (samples, events, message size). RESOURCE_EXHAUSTED also means
 * "window exceeded", which cannot happen with one batch in flight.
 */
const BATCH_REFUSAL = new Set<number>([GrpcStatus.INVALID_ARGUMENT, GrpcStatus.RESOURCE_EXHAUSTED]);

interface StreamState {
  readonly call: ClientDuplexStream<StreamRequest, StreamResponse>;
  welcomed: boolean;
  /** Highest sequence written on this stream (starts at the hub's last acked). */
  lastSent: number;
  /** Highest sequence read from the spool (passes lastSent over undecodable records). */
  readCursor: number;
  /** Sequences sent and not yet acked, ascending. */
  inFlight: number[];
  window: number;
  /** Refs whose SeriesDef was sent on this stream. */
  readonly defined: Set<number>;
  ended: boolean;
}

/**
 * Streams spooled batches to the hub over IngestService.Stream (see
 * proto/aiops/v1/ingest.proto and docs/agent.md):
 *
 * - Hello, then Welcome: resume after `last_acked_sequence`; everything the
 *   hub says is durable is deleted from the spool.
 * - At most `window` unacked batches in flight (the hub's flow control).
 * - Each batch's `dropped_before` is the gap to the previous sequence sent on
 *   the stream (spool overflow, corruption, or data the hub lost).
 * - SeriesDefs are sent once per stream per ref (records carry them all).
 * - Spooled data is deleted only when acked (cumulative acks).
 * - Transient failures: reconnect with exponential backoff and jitter.
 *   Permanent rejections (UNAUTHENTICATED, PERMISSION_DENIED,
 *   INVALID_ARGUMENT) are logged once, counted, and retried only every
 *   `permanentRetryMs`: a DaemonSet cannot fix itself by exiting, and an
 *   operator who rotates the token file or fixes the hub should not have
 *   to restart every agent.
 * - A batch the hub refuses as a whole (INVALID_ARGUMENT or
 *   RESOURCE_EXHAUSTED with that batch alone in flight) is moved to the
 *   spool's dead-letter directory, logged and counted once, and sending
 *   continues with the next batch. With several batches in flight the
 *   refused one is first isolated by resending one at a time.
 */
export class Sender {
  private readonly client: IngestServiceClient;
  private readonly backoff: Backoff;
  private stream: StreamState | undefined;
  private timer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private state: SenderState = 'idle';
  private lastError: string | undefined;
  /** The permanent rejection last logged, so it is logged once, not per retry. */
  private loggedRejection: string | undefined;
  /**
   * After the hub refused one of several batches in flight: send one batch
   * at a time until everything up to this sequence is acked, so the refused
   * batch is identified exactly (0: not isolating).
   */
  private isolateUntil = 0;

  constructor(private readonly options: SenderOptions) {
    this.client = new IngestServiceClient(options.address, options.credentials, {
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.max_receive_message_length': 1024 * 1024,
    });
    this.backoff = new Backoff(options.backoffInitialMs, options.backoffMaxMs);
  }

  start(): void {
    if (this.state !== 'idle') return;
    this.connect();
  }

  /** New data was spooled: send it if the window allows. */
  notify(): void {
    this.pump();
  }

  status(): { state: SenderState; lastError?: string; ackedSequence: number; lastSentSequence: number } {
    return {
      state: this.state,
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
      ackedSequence: this.options.spool.ackedSequence,
      lastSentSequence: this.stream?.lastSent ?? 0,
    };
  }

  /** Ends the stream (unacked batches stay spooled for the next start); safe twice. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    clearTimeout(this.timer);
    this.endStream();
    this.client.close();
    this.options.metrics.senderConnected.set(0);
  }

  private connect(): void {
    if (this.state === 'stopped') return;
    this.attempts += 1;
    if (this.attempts > 1) this.options.metrics.senderReconnectsTotal.inc();
    this.state = 'connecting';
    const md = new Metadata();
    const token = this.options.token();
    if (token) md.set('authorization', `Bearer ${token}`);
    const call = this.client.stream(md);
    const s: StreamState = {
      call,
      welcomed: false,
      lastSent: 0,
      readCursor: 0,
      inFlight: [],
      window: 0,
      defined: new Set(),
      ended: false,
    };
    this.stream = s;
    call.on('data', (msg: StreamResponse) => this.onResponse(s, msg));
    call.on('error', (err: ServiceError) => this.onStreamEnd(s, err));
    call.on('end', () => this.onStreamEnd(s, undefined));
    call.on('status', () => undefined);
    call.write({ msg: { $case: 'hello', hello: this.options.hello } });
    this.timer = setTimeout(() => {
      if (!s.welcomed && !s.ended)
        this.onStreamEnd(s, new Error(`no Welcome within ${this.options.welcomeTimeoutMs} ms`));
    }, this.options.welcomeTimeoutMs);
  }

  private onResponse(s: StreamState, msg: StreamResponse): void {
    if (s !== this.stream || s.ended || !msg.msg) return;
    switch (msg.msg.$case) {
      case 'welcome':
        this.onWelcome(s, msg.msg.welcome);
        break;
      case 'ack':
        this.onAck(s, msg.msg.ack);
        break;
      case 'config':
        this.options.onConfig?.(msg.msg.config);
        break;
    }
  }

  private onWelcome(s: StreamState, w: Welcome): void {
    clearTimeout(this.timer);
    const { spool, logger, metrics } = this.options;
    s.welcomed = true;
    s.window = Math.max(1, w.window);
    s.lastSent = w.lastAckedSequence;
    s.readCursor = w.lastAckedSequence;
    if (w.lastAckedSequence > spool.writtenSequence) {
      logger.warn(
        { hubLastAcked: w.lastAckedSequence, spoolWritten: spool.writtenSequence },
        'hub has acked more than this spool wrote (data directory lost?); continuing after the hub',
      );
    } else if (w.lastAckedSequence < spool.ackedSequence) {
      logger.warn(
        { hubLastAcked: w.lastAckedSequence, spoolAcked: spool.ackedSequence },
        'hub lost acknowledged data; the gap is declared with dropped_before',
      );
    }
    spool.ack(w.lastAckedSequence);
    this.backoff.reset();
    this.state = 'streaming';
    this.lastError = undefined;
    this.loggedRejection = undefined;
    metrics.senderConnected.set(1);
    logger.info(
      { lastAcked: w.lastAckedSequence, window: s.window, attempts: this.attempts },
      'stream established',
    );
    if (w.limits) this.options.onLimits?.(w.limits);
    if (w.config) this.options.onConfig?.(w.config);
    this.pump();
  }

  private onAck(s: StreamState, a: Ack): void {
    const { spool, metrics } = this.options;
    spool.ack(a.sequence);
    while (s.inFlight.length > 0 && s.inFlight[0]! <= a.sequence) s.inFlight.shift();
    if (a.window > 0) s.window = a.window;
    for (const r of a.result?.rejections ?? []) {
      metrics.senderRejectedTotal.inc({ reason: rejectReasonToJSON(r.reason) }, r.count);
    }
    this.pump();
  }

  /** Sends spooled records while the window has room. */
  private pump(): void {
    const s = this.stream;
    if (!s || !s.welcomed || s.ended || this.state !== 'streaming') return;
    const { spool, metrics, logger } = this.options;
    if (this.isolateUntil > 0 && spool.ackedSequence >= this.isolateUntil) {
      logger.info({ through: this.isolateUntil }, 'batches isolated and delivered; full window again');
      this.isolateUntil = 0;
    }
    const window = this.isolateUntil > 0 ? 1 : s.window;
    while (s.inFlight.length < window) {
      const records = spool.readAfter(s.readCursor, window - s.inFlight.length);
      if (records.length === 0) return;
      for (const rec of records) {
        s.readCursor = rec.sequence;
        let batch: Batch;
        try {
          const known = this.options.recent?.(rec.sequence);
          batch = known ? { ...known } : decodeBatch(rec.payload);
        } catch (err) {
          // CRC-valid but undecodable: not ours to fix; the gap is declared on the next batch.
          logger.error({ err, sequence: rec.sequence }, 'spooled batch undecodable, skipped');
          metrics.spoolCorruptRecordsTotal.inc();
          continue;
        }
        batch.sequence = rec.sequence;
        batch.droppedBefore = rec.sequence - s.lastSent - 1;
        batch.series = batch.series.filter((d) => !s.defined.has(d.ref));
        for (const d of batch.series) s.defined.add(d.ref);
        s.call.write({ msg: { $case: 'batch', batch } });
        s.lastSent = rec.sequence;
        s.inFlight.push(rec.sequence);
        metrics.senderBatchesSentTotal.inc();
      }
    }
  }

  private onStreamEnd(s: StreamState, err: Error | undefined): void {
    if (s.ended) return;
    s.ended = true;
    clearTimeout(this.timer);
    if (this.stream === s) this.stream = undefined;
    try {
      s.call.cancel();
    } catch {
      // Already closed.
    }
    const { metrics, logger } = this.options;
    metrics.senderConnected.set(0);
    if (this.state === 'stopped') return;
    const code = (err as ServiceError | undefined)?.code;
    const message = err?.message ?? 'stream ended by the hub';
    this.lastError = message;
    let delayMs: number;
    const refused = code !== undefined && s.welcomed && BATCH_REFUSAL.has(code) && s.inFlight.length > 0;
    if (refused && s.inFlight.length === 1) {
      // The hub refused exactly this batch: resending it can only fail
      // again, so it leaves the sending order and the next one goes out.
      this.deadLetter(s.inFlight[0]!, GrpcStatus[code] ?? String(code), message);
      this.state = 'backoff';
      delayMs = this.backoff.nextDelayMs();
    } else if (refused) {
      this.isolateUntil = Math.max(this.isolateUntil, s.inFlight.at(-1)!);
      this.state = 'backoff';
      delayMs = this.backoff.nextDelayMs();
      logger.warn(
        { code: GrpcStatus[code], err: message, inFlight: s.inFlight.length, retryInMs: delayMs },
        'hub refused one of the batches in flight; resending one at a time to find it',
      );
    } else if (code !== undefined && PERMANENT.has(code)) {
      this.state = 'rejected';
      const name = GrpcStatus[code] ?? String(code);
      metrics.senderPermanentErrorsTotal.inc({ code: name });
      const key = `${code}:${message}`;
      if (this.loggedRejection !== key) {
        logger.error(
          { code: name, err: message, retryInMs: this.options.permanentRetryMs },
          'hub rejected the agent permanently; retrying slowly',
        );
        this.loggedRejection = key;
      }
      delayMs = this.options.permanentRetryMs;
    } else {
      this.state = 'backoff';
      delayMs = this.backoff.nextDelayMs();
      logger.warn(
        { code: code === undefined ? undefined : GrpcStatus[code], err: message, retryInMs: delayMs },
        'stream lost, reconnecting',
      );
    }
    this.timer = setTimeout(() => this.connect(), delayMs);
  }

  private deadLetter(sequence: number, code: string, message: string): void {
    const { spool, metrics, logger } = this.options;
    const dead = spool.deadLetter(sequence, { code, message });
    if (!dead) return;
    metrics.senderDeadLetteredTotal.inc({ code });
    metrics.senderDeadLetteredSamplesTotal.inc(dead.samples);
    logger.error(
      { sequence, samples: dead.samples, code, err: message, evictedOlder: dead.evicted },
      'hub refused a batch; moved to the dead-letter directory, sending the next one',
    );
  }

  private endStream(): void {
    const s = this.stream;
    if (!s) return;
    s.ended = true;
    this.stream = undefined;
    try {
      s.call.end();
      s.call.cancel();
    } catch {
      // Already closed.
    }
  }
}
