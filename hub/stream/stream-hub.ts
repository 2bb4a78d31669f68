import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { WebSocket } from 'ws';
import type { Authenticator, Authorizer, Credentials, Principal } from '../api/access.js';
import type { Bus } from '../bus/bus.js';
import type { StreamConfig } from './config.js';
import { streamMetrics, type StreamMetrics } from './metrics.js';
import { CloseCode } from './protocol.js';
import { Router } from './router.js';
import { ClientSession } from './session.js';

export interface StreamHubDeps {
  readonly bus: Bus;
  readonly authenticator: Authenticator;
  readonly authorizer: Authorizer;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly config: StreamConfig;
  readonly onAccessDenied?: StreamAccessDeniedHook;
}

/**
 * A refusal on an open socket: a subscription RBAC denies, one whose access
 * was revoked, or a connection closed because its credential was revoked.
 * (Refusals at upgrade are HTTP 401s, audited with the other requests.)
 */
export interface StreamAccessDenied {
  readonly outcome: 'forbidden' | 'unauthenticated';
  /** `watch telemetry` etc.; `stream` for connection-level refusals. */
  readonly action: string;
  /** The stream endpoint's URL path. */
  readonly path: string;
  readonly principal: Principal;
  readonly cluster?: string;
  readonly reason: string;
  readonly remoteAddr?: string;
}

export type StreamAccessDeniedHook = (denied: StreamAccessDenied) => void;

/**
 * Owns every stream connection of a replica: one flush timer writes each
 * client's queued data as one frame per tick (a ws frame costs ~10 µs of CPU
 * here, so per-sample frames would not scale), one heartbeat timer pings
 * and reaps. Lifecycle: start() then stop(); stop() is safe twice and
 * before start().
 */
export class StreamHub {
  readonly metrics: StreamMetrics;
  private readonly router: Router;
  private readonly sessions = new Set<ClientSession>();
  private readonly logger: Logger;
  private flushTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private nextId = 1;
  private tick = 0;
  private stopped = false;

  constructor(private readonly deps: StreamHubDeps) {
    this.metrics = streamMetrics(deps.registry);
    this.router = new Router(deps.bus, deps.config.matchCacheMaxEntries);
    this.logger = deps.logger.child({ component: 'stream' });
  }

  start(): void {
    if (this.stopped || this.flushTimer !== undefined) return;
    this.flushTimer = setInterval(() => this.flushAll(), this.deps.config.flushIntervalMs);
    this.heartbeatTimer = setInterval(() => this.heartbeatAll(), this.deps.config.pingIntervalMs);
  }

  /** Takes over an upgraded, authenticated socket. */
  accept(ws: WebSocket, principal: Principal, credentials: Credentials, remoteAddr?: string): void {
    if (this.stopped) {
      ws.close(CloseCode.goingAway, 'server shutting down');
      // As for sessions: a client that does not complete the close handshake is cut off.
      setTimeout(() => ws.terminate(), 1000).unref();
      return;
    }
    const session = new ClientSession(
      this.nextId++,
      ws,
      principal,
      credentials,
      {
        authenticator: this.deps.authenticator,
        authorizer: this.deps.authorizer,
        router: this.router,
        metrics: this.metrics,
        config: this.deps.config,
        logger: this.logger,
        onAccessDenied: this.deps.onAccessDenied,
      },
      remoteAddr,
      (ended) => this.sessions.delete(ended),
    );
    this.sessions.add(session);
    this.metrics.connections.inc();
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  /** Bus channels held for local subscribers (diagnostics and tests). */
  busKeys(): string[] {
    return this.router.keys();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.flushTimer);
    clearInterval(this.heartbeatTimer);
    for (const session of [...this.sessions]) {
      session.close(CloseCode.goingAway, 'server shutting down', 'shutdown');
    }
    this.router.close();
  }

  private flushAll(): void {
    const nowMs = Date.now();
    // Each client every `every`-th tick, so that all clients together stay
    // within maxFramesPerSecond; session ids stagger them over the ticks.
    const { flushIntervalMs, maxFramesPerSecond } = this.deps.config;
    const every = Math.max(
      1,
      Math.ceil((this.sessions.size * 1000) / (flushIntervalMs * maxFramesPerSecond)),
    );
    const tick = this.tick++;
    for (const session of this.sessions) {
      if ((tick + session.id) % every !== 0) continue;
      try {
        session.flush(nowMs);
      } catch (err) {
        this.logger.error({ err, connection: session.id }, 'stream flush failed');
      }
    }
  }

  private heartbeatAll(): void {
    const nowMs = Date.now();
    for (const session of this.sessions) {
      try {
        session.heartbeat(nowMs);
      } catch (err) {
        this.logger.error({ err, connection: session.id }, 'stream heartbeat failed');
      }
    }
  }
}
