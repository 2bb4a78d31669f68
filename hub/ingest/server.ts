import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Bus } from '../bus/bus.js';
import { ingestServiceDefinition, type CollectorConfigOut } from '../codec/ingest-codec.js';
import { AuthenticationError, UnavailableError } from '../errors.js';
import type { Store } from '../store/store.js';
import { enrollmentTokenAuthenticator, type AgentAuthenticator } from './auth.js';
import type { AccessDeniedHook, IngestContext, PeerCheck } from './intake.js';
import {
  DEFAULT_INGEST_LIMITS,
  DEFAULT_WRITER_LIMITS,
  validateLimits,
  type IngestLimits,
  type WriterLimits,
} from './limits.js';
import { createIngestMetrics } from './metrics.js';
import { handlePush } from './push.js';
import { StreamSupersededError, toGrpcStatus } from './status.js';
import { StreamSession, type IngestCall } from './stream-session.js';
import { GroupCommitWriter } from './writer.js';

export interface IngestServerOptions {
  readonly store: Store;
  /** Committed samples and events are published here when given. */
  readonly bus?: Bus;
  readonly logger: Logger;
  /** Metrics are registered here (the hub's /metrics registry). */
  readonly registry: Registry;
  readonly limits?: Partial<IngestLimits>;
  readonly writer?: Partial<WriterLimits>;
  /** Defaults to the store's enrollment tokens. */
  readonly auth?: AgentAuthenticator;
  /** Collector configuration sent in Welcome. */
  readonly collectors?: readonly CollectorConfigOut[];
  /** Transport security (e.g. TLS from hub/auth/tls); insecure when absent. */
  readonly credentials?: ServerCredentials;
  /** With mutual TLS: binds each agent's client certificate to the cluster it claims. */
  readonly peerCheck?: PeerCheck;
  /** Told of every refused authentication or authorization (for the audit log). */
  readonly onAccessDenied?: AccessDeniedHook;
  /** Clock for timestamp checks (tests). */
  readonly nowMs?: () => number;
}

/**
 * The hub's gRPC ingest endpoint. Lifecycle: start() once; stop() is
 * graceful (no new calls, batches already received are committed and
 * acknowledged, then streams end with UNAVAILABLE), safe before start and
 * safe twice.
 */
export interface IngestServer {
  /** Binds (e.g. "0.0.0.0:4317", "127.0.0.1:0") and returns the bound port. */
  start(address: string): Promise<number>;
  stop(options?: { timeoutMs?: number }): Promise<void>;
  /** Ends the open streams authenticated with this token with UNAUTHENTICATED; returns how many. */
  revokeToken(tokenId: string): number;
  /** Sends new collector configuration to every open stream (and in later Welcomes). */
  setCollectors(collectors: readonly CollectorConfigOut[]): void;
  readonly limits: IngestLimits;
}

export function createIngestServer(options: IngestServerOptions): IngestServer {
  const limits: IngestLimits = { ...DEFAULT_INGEST_LIMITS, ...options.limits };
  const writerLimits: WriterLimits = { ...DEFAULT_WRITER_LIMITS, ...options.writer };
  validateLimits(limits, writerLimits);
  const logger = options.logger.child({ component: 'ingest' });
  const metrics = createIngestMetrics(options.registry);
  const writer = new GroupCommitWriter(options.store, writerLimits, metrics, logger);
  const ctx: IngestContext = {
    store: options.store,
    bus: options.bus,
    limits,
    writer,
    metrics,
    logger,
    nowMs: options.nowMs ?? Date.now,
    peerCheck: options.peerCheck,
    onAccessDenied: options.onAccessDenied,
  };
  const auth = options.auth ?? enrollmentTokenAuthenticator(options.store.enrollmentTokens);
  let collectors: readonly CollectorConfigOut[] = options.collectors ?? [];

  const sessions = new Set<StreamSession>();
  const byAgent = new Map<string, StreamSession>();
  const pushes = new Set<Promise<void>>();
  let closedWaiters: (() => void)[] = [];
  let stopping = false;
  let stopped: Promise<void> | undefined;
  let server: Server | undefined;

  const hooks = {
    onReady(session: StreamSession) {
      const id = session.agentId!;
      const older = byAgent.get(id);
      byAgent.set(id, session);
      // A reconnecting agent whose old connection the hub has not noticed
      // dying yet: the newer stream wins.
      older?.fail(new StreamSupersededError(`a newer stream of agent ${id} replaced this one`));
    },
    onClosed(session: StreamSession) {
      sessions.delete(session);
      const id = session.agentId;
      if (id !== undefined && byAgent.get(id) === session) byAgent.delete(id);
      if (sessions.size === 0) {
        const w = closedWaiters;
        closedWaiters = [];
        for (const f of w) f();
      }
    },
  };

  function stream(call: IngestCall): void {
    if (stopping) {
      call.emit('error', toGrpcStatus(new UnavailableError('the hub is shutting down')));
      return;
    }
    const session = new StreamSession(ctx, call, auth, hooks, () => collectors);
    sessions.add(session);
    session.start();
  }

  function push(call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>): void {
    if (stopping) {
      callback(toGrpcStatus(new UnavailableError('the hub is shutting down')), null);
      return;
    }
    const p = handlePush(ctx, auth, call, callback);
    pushes.add(p);
    void p.finally(() => pushes.delete(p));
  }

  return {
    limits,
    async start(address) {
      if (server) throw new Error('ingest server already started');
      server = new Server({
        'grpc.max_receive_message_length': limits.maxMessageBytes,
        // Notice dead agents (and let them notice a dead hub) within a minute.
        'grpc.keepalive_time_ms': 30_000,
        'grpc.keepalive_timeout_ms': 20_000,
        'grpc.http2.min_ping_interval_without_data_ms': 10_000,
      });
      server.addService(ingestServiceDefinition, { stream, push });
      const s = server;
      const port = await new Promise<number>((resolve, reject) =>
        s.bindAsync(address, options.credentials ?? ServerCredentials.createInsecure(), (err, p) =>
          err ? reject(err) : resolve(p),
        ),
      );
      logger.info({ address, port }, 'ingest server listening');
      return port;
    },
    stop(opts = {}) {
      stopped ??= (async () => {
        stopping = true;
        const timeoutMs = opts.timeoutMs ?? 30_000;
        for (const s of sessions) s.beginDrain();
        const allClosed =
          sessions.size === 0
            ? Promise.resolve()
            : new Promise<void>((resolve) => closedWaiters.push(resolve));
        const drained = Promise.all([allClosed, Promise.allSettled([...pushes]), writer.drain()]);
        let timer: NodeJS.Timeout | undefined;
        const timedOut = await Promise.race([
          drained.then(() => false),
          new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          logger.warn({ streams: sessions.size }, 'ingest drain timed out; cutting remaining streams');
          for (const s of sessions) s.fail(new UnavailableError('the hub is shutting down'));
        }
        const srv = server;
        if (srv) {
          await new Promise<void>((resolve) => {
            const force = setTimeout(() => {
              srv.forceShutdown();
              resolve();
            }, 5_000);
            srv.tryShutdown(() => {
              clearTimeout(force);
              resolve();
            });
          });
        }
        logger.info('ingest server stopped');
      })();
      return stopped;
    },
    revokeToken(tokenId) {
      let n = 0;
      for (const s of sessions) {
        if (s.principal?.tokenId === tokenId) {
          s.fail(new AuthenticationError('the token of this stream was revoked'));
          n++;
        }
      }
      return n;
    },
    setCollectors(next) {
      collectors = next;
      for (const s of sessions) s.sendConfig(next);
    },
  };
}
