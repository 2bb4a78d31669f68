import type { Logger } from 'pino';
import type { WebSocket, RawData } from 'ws';
import type { Authenticator, Authorizer, Credentials, Permission, Principal } from '../api/access.js';
import type { AnomalyMessage } from '../bus/bus.js';
import { AuthenticationError, InputError } from '../errors.js';
import type { EventRecord } from '../store/store.js';
import type { StreamConfig } from './config.js';
import { Downsampler, type SeriesState } from './downsampler.js';
import type { StreamMetrics } from './metrics.js';
import { Outbox, SampleQueue, encodeTuple, type DroppedCounts } from './outbox.js';
import {
  CloseCode,
  parseClientMessage,
  type AckMessage,
  type ErrorMessage,
  type StreamErrorCode,
  type StreamKind,
  type SubscribeMessage,
} from './protocol.js';
import type { Router } from './router.js';
import { compileSelector } from './selector.js';
import type { StreamAccessDeniedHook } from './stream-hub.js';
import { Subscription, type SubscriptionSink } from './subscription.js';

export interface SessionDeps {
  readonly authenticator: Authenticator;
  readonly authorizer: Authorizer;
  readonly router: Router;
  readonly metrics: StreamMetrics;
  readonly config: StreamConfig;
  readonly logger: Logger;
  readonly onAccessDenied?: StreamAccessDeniedHook;
}

export type DisconnectReason =
  'client' | 'heartbeat' | 'slow_consumer' | 'token_expired' | 'revoked' | 'abuse' | 'shutdown';

const RESOURCE: Record<StreamKind, Permission['resource']> = {
  samples: 'telemetry',
  events: 'events',
  anomalies: 'anomalies',
};

/** Longest delay setTimeout accepts. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What RBAC grants a subscription: the bus keys it needs and the clusters it may see. */
type Access =
  | { readonly ok: true; readonly busKeys: string[]; readonly allowed: ReadonlySet<string> | null }
  | { readonly ok: false; readonly message: string };

/**
 * One authenticated WebSocket connection: parses and answers client
 * messages, holds its subscriptions and its outbox, enforces the byte bound
 * and the abuse, expiry and revocation rules. The hub drives flush() and
 * heartbeat() from its timers.
 */
export class ClientSession implements SubscriptionSink {
  private readonly subs = new Map<string, Subscription>();
  private readonly pendingSubscribes = new Set<string>();
  private readonly outbox: Outbox;
  private readonly logger: Logger;
  private badMessageTimesMs: number[] = [];
  private overBoundSinceMs: number | undefined;
  private lastPongMs = Date.now();
  private expiryTimer: NodeJS.Timeout | undefined;
  private reauthTimer: NodeJS.Timeout | undefined;
  private closing: DisconnectReason | undefined;
  private ended = false;

  constructor(
    readonly id: number,
    private readonly ws: WebSocket,
    private principal: Principal,
    private readonly credentials: Credentials,
    private readonly deps: SessionDeps,
    private readonly remoteAddr: string | undefined,
    private readonly onEnded: (session: ClientSession) => void,
  ) {
    this.logger = deps.logger.child({ connection: id, principal: principal.id });
    this.outbox = new Outbox(deps.config.maxBufferedBytes);
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('pong', () => {
      this.lastPongMs = Date.now();
    });
    ws.on('close', () => this.end());
    ws.on('error', (err) => this.logger.debug({ err }, 'stream socket error'));
    this.scheduleExpiry();
    this.scheduleReauth();
  }

  get subscriptionCount(): number {
    return this.subs.size;
  }

  // --- data path (called by the router) -----------------------------------

  offerSamples(
    sub: Subscription,
    state: SeriesState | undefined,
    timestampsMs: readonly number[],
    values: readonly number[],
    encoded: string | undefined,
    nowMs: number,
  ): void {
    if (state === undefined) {
      this.deps.metrics.messagesDropped.inc({ stream: 'samples', reason: 'series_limit' }, values.length);
      return;
    }
    const folded = sub.downsampler!.offerTo(state, timestampsMs, values, nowMs, encoded);
    if (folded > 0) this.deps.metrics.samplesDownsampled.inc(folded);
  }

  offerEvent(sub: Subscription, event: EventRecord): void {
    this.outbox.addEvent(sub.id, JSON.stringify(event));
  }

  offerAnomaly(sub: Subscription, anomaly: AnomalyMessage): void {
    const { series, ...rest } = anomaly;
    this.outbox.addAnomaly(sub.id, JSON.stringify({ seriesId: series.id, series, ...rest }));
  }

  private emitPoint(
    queue: SampleQueue,
    state: SeriesState,
    timestampMs: number,
    value: number,
    encoded?: string,
  ): void {
    if (!state.announced) {
      state.announced = true;
      this.outbox.announce(state.series);
    }
    const tuple = encoded ?? encodeTuple(state.series.id, timestampMs, value);
    const coalesced = this.outbox.addSample(queue, state.series.id, tuple);
    if (coalesced > 0) this.deps.metrics.samplesCoalesced.inc(coalesced);
  }

  // --- timers (called by the hub) -----------------------------------------

  /** Writes what is queued as one frame, unless the socket is over its byte bound. */
  flush(nowMs: number): void {
    if (this.ended || this.closing !== undefined) return;
    for (const sub of this.subs.values()) sub.downsampler?.tick(nowMs);
    const { maxBufferedBytes, slowConsumerGraceMs } = this.deps.config;
    const buffered = this.ws.bufferedAmount;
    if (buffered >= maxBufferedBytes) {
      const removed = this.outbox.startCoalescing();
      if (removed > 0) this.deps.metrics.samplesCoalesced.inc(removed);
      this.overBoundSinceMs ??= nowMs;
      if (nowMs - this.overBoundSinceMs >= slowConsumerGraceMs) {
        this.close(
          CloseCode.slowConsumer,
          'slow consumer: over buffer bound past grace period',
          'slow_consumer',
        );
      } else if (this.outbox.eventBytes > maxBufferedBytes) {
        // Events cannot be coalesced; a backlog of them beyond the bound ends the connection now.
        this.close(CloseCode.slowConsumer, 'slow consumer: event backlog over buffer bound', 'slow_consumer');
      }
      return;
    }
    this.overBoundSinceMs = undefined;
    const taken = this.outbox.takeFrame();
    if (taken === undefined) return;
    this.ws.send(taken.frame);
    const m = this.deps.metrics;
    m.framesSent.inc();
    m.bytesSent.inc(taken.frame.length);
    if (taken.counts.samples > 0) m.messagesSent.inc({ stream: 'samples' }, taken.counts.samples);
    if (taken.counts.events > 0) m.messagesSent.inc({ stream: 'events' }, taken.counts.events);
    if (taken.counts.anomalies > 0) m.messagesSent.inc({ stream: 'anomalies' }, taken.counts.anomalies);
    if (this.outbox.coalescing && buffered + taken.frame.length < maxBufferedBytes / 2) {
      this.outbox.stopCoalescing();
    }
  }

  /** Pings, or terminates a client that has not answered within pongTimeoutMs. */
  heartbeat(nowMs: number): void {
    if (this.ended) return;
    if (nowMs - this.lastPongMs > this.deps.config.pongTimeoutMs) {
      this.closing ??= 'heartbeat';
      this.logger.info({ silentMs: nowMs - this.lastPongMs }, 'stream client missed pongs; terminating');
      this.ws.terminate();
      return;
    }
    this.ws.ping();
  }

  /** Closes with `code`; a client that does not complete the close handshake is cut off after 1 s. */
  close(code: number, reason: string, why: DisconnectReason): void {
    if (this.ended || this.closing !== undefined) return;
    this.closing = why;
    this.logger.info({ code, reason: why }, 'closing stream connection');
    this.ws.close(code, reason);
    setTimeout(() => {
      if (!this.ended) this.ws.terminate();
    }, 1000).unref();
  }

  // --- client messages ----------------------------------------------------

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.closing !== undefined) return;
    const bytes = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
    if (bytes > this.deps.config.maxMessageBytes) {
      return this.reject(
        'message_too_large',
        `message of ${bytes} bytes exceeds ${this.deps.config.maxMessageBytes}`,
      );
    }
    if (isBinary) return this.reject('invalid_message', 'binary frames are not accepted; send JSON text');
    const text = Array.isArray(data)
      ? Buffer.concat(data).toString('utf8')
      : Buffer.from(data as ArrayBuffer).toString('utf8');
    const parsed = parseClientMessage(text);
    if (!parsed.ok) return this.reject(parsed.error.code, parsed.error.message, parsed.error.id);
    const message = parsed.message;
    switch (message.type) {
      case 'subscribe':
        void this.subscribe(message);
        return;
      case 'unsubscribe':
        return this.unsubscribe(message.id);
      case 'ping':
        this.sendControl(message.id === undefined ? { type: 'pong' } : { type: 'pong', id: message.id });
        return;
    }
  }

  private async subscribe(msg: SubscribeMessage): Promise<void> {
    if (this.subs.has(msg.id) || this.pendingSubscribes.has(msg.id)) {
      return this.reject('duplicate_subscription', `subscription ${msg.id} already exists`, msg.id);
    }
    if (this.subs.size + this.pendingSubscribes.size >= this.deps.config.maxSubscriptionsPerClient) {
      return this.reject(
        'too_many_subscriptions',
        `at most ${this.deps.config.maxSubscriptionsPerClient} subscriptions per connection`,
        msg.id,
      );
    }
    if (msg.stream !== 'samples' && (msg.maxRateHz !== undefined || msg.aggregation !== undefined)) {
      return this.reject('invalid_message', 'maxRateHz and aggregation apply to samples only', msg.id);
    }
    let selector;
    try {
      selector = compileSelector(msg.selector);
    } catch (err) {
      return this.reject(
        'invalid_message',
        err instanceof InputError ? err.message : 'invalid selector',
        msg.id,
      );
    }
    this.pendingSubscribes.add(msg.id);
    let access: Access;
    try {
      access = await this.access(msg.stream, msg.selector.cluster);
    } catch (err) {
      this.logger.warn({ err }, 'authorization check failed');
      if (!this.ended) this.sendError('unavailable', 'authorization is unavailable; retry later', msg.id);
      return;
    } finally {
      this.pendingSubscribes.delete(msg.id);
    }
    if (this.ended || this.closing !== undefined) return;
    if (!access.ok) {
      // The cluster field names only clusters access was granted on (as for
      // REST): a refused one goes in the reason, so nobody can file entries
      // under another cluster's audit view.
      this.audit('forbidden', msg.stream, undefined, access.message);
      // Counted like a bad message: a client that keeps asking for what it
      // may not see is closed (1008) before it can flood the audit log.
      return this.reject('forbidden', access.message, msg.id);
    }
    const rateHz = Math.min(msg.maxRateHz ?? this.deps.config.maxRateHz, this.deps.config.maxRateHz);
    const intervalMs = Math.round(1000 / rateHz);
    const aggregation = msg.aggregation ?? 'latest';
    // The queue lives as long as the downsampler (kept when RBAC re-scopes the subscription).
    const queue = new SampleQueue(msg.id);
    const downsampler =
      msg.stream === 'samples'
        ? new Downsampler(intervalMs, aggregation, this.deps.config.maxSeriesPerSubscription, (s, t, v, e) =>
            this.emitPoint(queue, s, t, v, e),
          )
        : undefined;
    const sub = new Subscription(
      msg.id,
      msg.stream,
      selector,
      msg.selector.cluster,
      access.busKeys,
      access.allowed,
      this,
      downsampler,
      msg.selector.metric,
    );
    const ack: AckMessage = {
      type: 'ack',
      op: 'subscribe',
      id: msg.id,
      clusters:
        access.allowed === null ? (msg.selector.cluster ? [msg.selector.cluster] : '*') : [...access.allowed],
      ...(msg.stream === 'samples' ? { intervalMs, aggregation } : {}),
    };
    this.sendControl(ack);
    this.subs.set(msg.id, sub);
    this.deps.router.add(sub);
    this.deps.metrics.subscriptions.inc({ stream: msg.stream });
  }

  private unsubscribe(id: string): void {
    const sub = this.subs.get(id);
    if (sub === undefined) return this.reject('unknown_subscription', `no active subscription ${id}`, id);
    this.removeSubscription(sub, 'unsubscribed');
    this.sendControl({ type: 'ack', op: 'unsubscribe', id } satisfies AckMessage);
  }

  private removeSubscription(sub: Subscription, reason: string): void {
    this.subs.delete(sub.id);
    this.deps.router.remove(sub);
    this.deps.metrics.subscriptions.dec({ stream: sub.stream });
    this.countDropped(this.outbox.forget(sub.id), reason);
  }

  /** RBAC for one subscription: a named cluster must be allowed; otherwise the principal's scope applies. */
  private async access(stream: StreamKind, cluster: string | undefined): Promise<Access> {
    const permission: Permission = { verb: 'watch', resource: RESOURCE[stream] };
    if (cluster !== undefined) {
      return (await this.deps.authorizer.allowed(this.principal, permission, cluster))
        ? { ok: true, busKeys: [cluster], allowed: null }
        : { ok: false, message: `not allowed to watch ${permission.resource} on cluster ${cluster}` };
    }
    const scope = await this.deps.authorizer.scope(this.principal, permission);
    if (scope.all) return { ok: true, busKeys: ['*'], allowed: null };
    if (scope.clusters.length === 0) {
      return { ok: false, message: `not allowed to watch ${permission.resource} on any cluster` };
    }
    return { ok: true, busKeys: [...scope.clusters], allowed: new Set(scope.clusters) };
  }

  // --- expiry and revocation ----------------------------------------------

  private scheduleExpiry(): void {
    clearTimeout(this.expiryTimer);
    const expiresAtMs = this.principal.expiresAtMs;
    if (expiresAtMs === undefined) return;
    const delayMs = expiresAtMs - Date.now();
    if (delayMs <= 0) {
      this.close(CloseCode.tokenExpired, 'token expired', 'token_expired');
      return;
    }
    this.expiryTimer = setTimeout(() => this.scheduleExpiry(), Math.min(delayMs, MAX_TIMER_MS));
    this.expiryTimer.unref();
  }

  private scheduleReauth(): void {
    // Jitter so a thousand connections opened together do not re-check together.
    const delayMs = this.deps.config.reauthIntervalMs * (0.75 + Math.random() * 0.5);
    this.reauthTimer = setTimeout(() => void this.reauthenticate(), delayMs);
    this.reauthTimer.unref();
  }

  /** Re-checks the credential (revocation) and every subscription's RBAC. */
  private async reauthenticate(): Promise<void> {
    if (this.ended || this.closing !== undefined) return;
    let principal: Principal | null;
    try {
      principal = await this.deps.authenticator.authenticate(this.credentials);
    } catch (err) {
      if (!(err instanceof AuthenticationError)) {
        // The identity provider being down is not a revocation: keep serving, try again later.
        this.logger.warn({ err }, 're-authentication unavailable; keeping the connection');
        this.scheduleReauth();
        return;
      }
      principal = null;
    }
    if (this.ended || this.closing !== undefined) return;
    if (principal === null) {
      this.audit('unauthenticated', undefined, undefined, 'credentials revoked; connection closed');
      this.close(CloseCode.credentialsRevoked, 'credentials no longer valid', 'revoked');
      return;
    }
    this.principal = principal;
    this.scheduleExpiry();
    for (const sub of [...this.subs.values()]) {
      let access: Access;
      try {
        access = await this.access(sub.stream, sub.requestedCluster);
      } catch (err) {
        this.logger.warn({ err, subscription: sub.id }, 'authorization re-check unavailable');
        continue;
      }
      if (this.ended || this.subs.get(sub.id) !== sub) continue;
      if (!access.ok) {
        this.audit('forbidden', sub.stream, sub.requestedCluster, `access revoked: ${access.message}`);
        this.removeSubscription(sub, 'revoked');
        this.sendError('forbidden', `access revoked: ${access.message}`, sub.id);
      } else if (!sameAccess(sub, access)) {
        // The principal's cluster scope changed: move the subscription to the
        // new channels. What it had queued is dropped (counted as rescoped),
        // and its downsampler forgets the clusters it may no longer see, so
        // no pending aggregate of theirs is emitted later.
        this.removeSubscription(sub, 'rescoped');
        const next = sub.withAccess(access.busKeys, access.allowed);
        const allowed = access.allowed;
        const folded = sub.downsampler?.retain((s) => allowed === null || allowed.has(s.cluster)) ?? 0;
        if (folded > 0) {
          this.deps.metrics.messagesDropped.inc({ stream: 'samples', reason: 'rescoped' }, folded);
        }
        this.subs.set(next.id, next);
        this.deps.router.add(next);
        this.deps.metrics.subscriptions.inc({ stream: next.stream });
      }
    }
    this.scheduleReauth();
  }

  // --- sending and bookkeeping ----------------------------------------------

  /** Reports a refusal to the audit hook; `stream` undefined: the connection itself. */
  private audit(
    outcome: 'forbidden' | 'unauthenticated',
    stream: StreamKind | undefined,
    cluster: string | undefined,
    reason: string,
  ): void {
    try {
      this.deps.onAccessDenied?.({
        outcome,
        action: stream === undefined ? 'stream' : `watch ${RESOURCE[stream]}`,
        path: this.deps.config.path,
        principal: this.principal,
        ...(cluster === undefined ? {} : { cluster }),
        reason,
        ...(this.remoteAddr === undefined ? {} : { remoteAddr: this.remoteAddr }),
      });
    } catch (err) {
      this.logger.warn({ err }, 'stream audit hook failed');
    }
  }

  private reject(code: StreamErrorCode, message: string, id?: string): void {
    this.deps.metrics.badMessages.inc({ code });
    this.sendError(code, message, id);
    const nowMs = Date.now();
    const windowStartMs = nowMs - this.deps.config.badMessageWindowMs;
    this.badMessageTimesMs = this.badMessageTimesMs.filter((t) => t > windowStartMs);
    this.badMessageTimesMs.push(nowMs);
    if (this.badMessageTimesMs.length > this.deps.config.maxBadMessages) {
      this.close(CloseCode.policyViolation, 'too many bad messages', 'abuse');
    }
  }

  private sendError(code: StreamErrorCode, message: string, id?: string): void {
    const error: ErrorMessage =
      id === undefined ? { type: 'error', code, message } : { type: 'error', code, message, id };
    this.sendControl(error);
  }

  private sendControl(message: object): void {
    if (this.ended || this.ws.readyState !== this.ws.OPEN) return;
    // Control replies (pong, ack, error) bypass the outbox; a client that
    // sends requests but never reads must not grow the socket buffer
    // without bound while the slow-consumer grace period runs.
    if (this.ws.bufferedAmount > 2 * this.deps.config.maxBufferedBytes) {
      this.close(CloseCode.slowConsumer, 'slow consumer: replies not read', 'slow_consumer');
      return;
    }
    this.ws.send(JSON.stringify(message));
  }

  private countDropped(counts: DroppedCounts, reason: string): void {
    const m = this.deps.metrics.messagesDropped;
    if (counts.samples > 0) m.inc({ stream: 'samples', reason }, counts.samples);
    if (counts.events > 0) m.inc({ stream: 'events', reason }, counts.events);
    if (counts.anomalies > 0) m.inc({ stream: 'anomalies', reason }, counts.anomalies);
  }

  /** Frees everything the connection held; runs once, on 'close'. */
  private end(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.expiryTimer);
    clearTimeout(this.reauthTimer);
    for (const sub of [...this.subs.values()]) this.removeSubscription(sub, 'closed');
    this.countDropped(this.outbox.clear(), 'closed');
    this.deps.metrics.disconnects.inc({ reason: this.closing ?? 'client' });
    this.deps.metrics.connections.dec();
    this.onEnded(this);
  }
}

function sameAccess(
  sub: Subscription,
  access: { busKeys: readonly string[]; allowed: ReadonlySet<string> | null },
): boolean {
  const keys = new Set(access.busKeys);
  return sub.busKeys.length === keys.size && sub.busKeys.every((k) => keys.has(k));
}
