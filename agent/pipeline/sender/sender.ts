import {
  Metadata,
  status as GrpcStatus,
  type ChannelCredentials,
  type ClientDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { decodeBatch, encodeBatchMessage } from '../../encode/batch.js';
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
import { SEND_OVERHEAD_BYTES, splitBatch, type SplitCaps } from './split.js';

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
 * Dead-letters in a row (no ack passing them) after which the sender stops
 * setting batches aside: a refusal that hits every batch (version skew, a
 * store bug) is not about the data, and the bounded dead-letter directory
 * would end up evicting it. It then keeps the spool and retries slowly.
 */
export const DEAD_LETTER_BREAKER = 3;

/** A status from the hub that refuses one batch, parsed from its details. */
export interface BatchRefusal {
  readonly sequence: number;
  /** The limit the batch is over, when splitting it can help. */
  readonly over?: { readonly what: 'samples' | 'events' | 'inventory'; readonly limit: number };
}

/**
 * The hub's refusals that name one batch, by their exact details
 * (hub/ingest/intake.ts checkBatchShape, hub/ingest/writer.ts refusedData):
 *
 * - RESOURCE_EXHAUSTED "batch S has N samples; max_samples_per_batch is M"
 * - RESOURCE_EXHAUSTED "batch S has N events; the limit is M"
 * - RESOURCE_EXHAUSTED "batch S has N inventory facts; the limit is M"
 * - INVALID_ARGUMENT "the store refused batch S: <why>"
 *
 * Every other INVALID_ARGUMENT or RESOURCE_EXHAUSTED is about the stream,
 * not one batch, and never dead-letters anything:
 *
 * - hub, INVALID_ARGUMENT: "malformed StreamRequest: …", "StreamRequest
 *   carries neither hello nor batch", "Hello …" (checkHello), "Batch.sequence
 *   must be >= 1" (the agent never sends 0);
 * - hub, RESOURCE_EXHAUSTED: "window exceeded: batch S would be
 *   unacknowledged batch number N; the window is W" (names a batch, but
 *   refuses the stream's pace, not the batch);
 * - grpc-js or a proxy, RESOURCE_EXHAUSTED: "Received message larger than
 *   max (N vs M)" (the sender splits before sending anything over the
 *   hub's announced max_message_bytes), and "Bandwidth exhausted or memory
 *   limit exceeded" (an HTTP/2 ENHANCE_YOUR_CALM reset).
 */
export function parseRefusal(code: number, details: string): BatchRefusal | undefined {
  if (code === GrpcStatus.RESOURCE_EXHAUSTED) {
    const m =
      /^batch (\d+) has \d+ (samples|events|inventory facts); (?:max_samples_per_batch|the limit) is (\d+)$/.exec(
        details,
      );
    if (!m) return undefined;
    const what = m[2] === 'samples' ? 'samples' : m[2] === 'events' ? 'events' : 'inventory';
    return { sequence: Number(m[1]), over: { what, limit: Number(m[3]) } };
  }
  if (code === GrpcStatus.INVALID_ARGUMENT) {
    const m = /^the store refused batch (\d+): /.exec(details);
    return m ? { sequence: Number(m[1]) } : undefined;
  }
  return undefined;
}

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
 * - A batch over the hub's limits (samples, message size: from Welcome;
 *   events, inventory: from a refusal naming it) is split into pieces
 *   within them, appended to the spool as new records, and the original
 *   skipped: nothing is lost.
 * - A batch the hub refuses by name (parseRefusal) and that cannot be split
 *   is moved to the spool's dead-letter directory, logged and counted once,
 *   and sending continues with the next batch. After DEAD_LETTER_BREAKER
 *   dead-letters with no ack in between, nothing more is set aside: the
 *   sender keeps the spool and retries every `permanentRetryMs`.
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
  /** The hub's limits from the last Welcome (what batches are split to before sending). */
  private limits: Limits | undefined;
  /** The dead-letter breaker is open (DEAD_LETTER_BREAKER): until an ack, nothing more is set aside. */
  private breakerOpen = false;

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
    this.limits = w.limits;
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
    if (this.breakerOpen && spool.deadLetteredUnacked < DEAD_LETTER_BREAKER) {
      this.breakerOpen = false;
      this.options.logger.info(
        { acked: a.sequence },
        'hub accepts batches again; dead-letter breaker closed',
      );
    }
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
    const caps = this.welcomeCaps();
    while (s.inFlight.length < s.window) {
      const records = spool.readAfter(s.readCursor, s.window - s.inFlight.length);
      if (records.length === 0) return;
      for (const rec of records) {
        s.readCursor = rec.sequence;
        // Built before this hub's limits were known (or under other ones):
        // split it rather than have it refused. Cheap check, no decoding.
        if (
          (rec.samples > caps.maxSamples || rec.payload.length > caps.maxBytes) &&
          this.split(rec.sequence, rec.payload, caps, 'over the limits announced in Welcome')
        ) {
          continue;
        }
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
    const details = (err as ServiceError | undefined)?.details ?? '';
    const refusal = code !== undefined && s.welcomed ? parseRefusal(code, details) : undefined;
    // Only a refusal naming a batch this stream sent sets anything aside.
    const refused = refusal && s.inFlight.includes(refusal.sequence) ? refusal : undefined;
    if (refused?.over && this.splitRefused(refused.sequence, refused.over)) {
      this.state = 'backoff';
      delayMs = this.backoff.nextDelayMs();
    } else if (refused && this.options.spool.deadLetteredUnacked >= DEAD_LETTER_BREAKER) {
      // Refusal after refusal: more likely the hub than the data. Keep it all.
      this.state = 'rejected';
      const name = GrpcStatus[code!] ?? String(code);
      metrics.senderPermanentErrorsTotal.inc({ code: name });
      if (!this.breakerOpen) {
        this.breakerOpen = true;
        metrics.senderDeadLetterBreakerTripsTotal.inc();
        logger.error(
          {
            code: name,
            err: message,
            sequence: refused.sequence,
            deadLetteredInARow: this.options.spool.deadLetteredUnacked,
            retryInMs: this.options.permanentRetryMs,
          },
          'hub refused batch after batch; no longer setting batches aside, keeping the spool and retrying slowly',
        );
      }
      delayMs = this.options.permanentRetryMs;
    } else if (refused) {
      // The hub refused exactly this batch: resending it can only fail
      // again, so it leaves the sending order and the next one goes out.
      this.deadLetter(refused.sequence, GrpcStatus[code!] ?? String(code), message);
      this.state = 'backoff';
      delayMs = this.backoff.nextDelayMs();
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

  /** Hard caps from the last Welcome; Infinity where the hub states none. */
  private welcomeCaps(): SplitCaps {
    const l = this.limits;
    return {
      maxSamples: l && l.maxSamplesPerBatch > 0 ? l.maxSamplesPerBatch : Infinity,
      maxEvents: Infinity,
      maxInventory: Infinity,
      maxBytes: l && l.maxMessageBytes > 0 ? l.maxMessageBytes - SEND_OVERHEAD_BYTES : Infinity,
    };
  }

  /** Splits a batch the hub refused for being over one of its limits; false when it cannot. */
  private splitRefused(sequence: number, over: NonNullable<BatchRefusal['over']>): boolean {
    const rec = this.options.spool.readAfter(sequence - 1, 1)[0];
    if (rec?.sequence !== sequence) return false;
    const caps = this.welcomeCaps();
    const limited: SplitCaps = {
      ...caps,
      maxSamples: over.what === 'samples' ? Math.min(caps.maxSamples, over.limit) : caps.maxSamples,
      maxEvents: over.what === 'events' ? over.limit : caps.maxEvents,
      maxInventory: over.what === 'inventory' ? over.limit : caps.maxInventory,
    };
    return this.split(sequence, rec.payload, limited, `refused: over the hub's ${over.what} limit`);
  }

  /**
   * Replaces spooled batch `sequence` by pieces within `caps` (new records,
   * new sequences; its own sequence is declared in dropped_before like any
   * gap). False when it cannot be split (one item over the caps).
   */
  private split(sequence: number, payload: Uint8Array, caps: SplitCaps, why: string): boolean {
    const { spool, metrics, logger } = this.options;
    try {
      const pieces = splitBatch(payload, caps);
      if (!pieces) return false;
      const done = spool.replace(
        sequence,
        pieces.map((p) => ({
          encode: (seq: number) => encodeBatchMessage({ ...p, sequence: seq, droppedBefore: 0 }),
          samples: p.samples.reduce((n, x) => n + Math.max(x.timestampsMs.length, x.values.length), 0),
        })),
      );
      if (!done) return false;
      metrics.senderSplitBatchesTotal.inc();
      logger.warn(
        { sequence, pieces: pieces.length, firstPiece: done.firstPiece, lastPiece: done.lastPiece, why },
        'batch over the hub limits split into smaller batches',
      );
      return true;
    } catch (err) {
      logger.error({ err, sequence }, 'splitting a batch failed; it is sent as it is');
      return false;
    }
  }

  private deadLetter(sequence: number, code: string, message: string): void {
    const { spool, metrics, logger } = this.options;
    const dead = spool.deadLetter(sequence, { code, message });
    if (!dead) return;
    metrics.senderDeadLetteredTotal.inc({ code });
    metrics.senderDeadLetteredSamplesTotal.inc(dead.samples);
    logger.error(
      {
        sequence,
        samples: dead.samples,
        code,
        err: message,
        recordKept: dead.kept,
        evictedOlder: dead.evicted,
      },
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
