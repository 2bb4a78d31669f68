import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Bus, BusBatch } from './bus.js';
import { decodeBusBatch, encodeBusBatch } from './bus-codec.js';
import { busMetrics, type BusMetrics } from './bus-metrics.js';
import { LocalFanout } from './local-fanout.js';

export interface RedisBusOptions {
  readonly url: string;
  /** Channel names are `<prefix>:<cluster>`; replicas that should talk share it. */
  readonly channelPrefix?: string;
  /** Publishes awaiting Redis's reply before new ones are dropped (counted). */
  readonly maxInFlightPublishes?: number;
  readonly logger?: Logger;
  readonly registry?: Registry;
}

export const DEFAULT_CHANNEL_PREFIX = 'aiops:bus:v1';

/**
 * The bus of a hub with several replicas. Every batch is delivered to this
 * replica's subscribers in process (as MemoryBus does) and published on the
 * cluster's Redis channel for the others; a replica skips its own echo.
 *
 * - Per-cluster channels: a replica SUBSCRIBEs to a cluster's channel only
 *   while a local handler wants that cluster, and PSUBSCRIBEs `<prefix>:*`
 *   only while a '*' handler exists, so Redis sends a replica only what its
 *   clients asked for.
 * - Publishing never blocks ingest: the publisher connection has no offline
 *   queue and at most `maxInFlightPublishes` outstanding commands; beyond
 *   that, or while Redis is down, batches are not sent to other replicas and
 *   `aiops_bus_publish_dropped_batches_total` counts them.
 * - Redis restarts: ioredis reconnects with backoff and re-issues the
 *   subscriptions it holds (autoResubscribe). Batches published while the
 *   link was down are not replayed (live data; the store has them).
 */
export class RedisBus implements Bus {
  readonly originId = randomUUID();
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly fanout: LocalFanout;
  private readonly prefix: string;
  private readonly maxInFlight: number;
  private readonly metrics: BusMetrics;
  private readonly logger: Logger | undefined;
  private inFlight = 0;
  private queue: BusBatch[] = [];
  private scheduled = false;
  private closed = false;

  constructor(options: RedisBusOptions) {
    this.prefix = options.channelPrefix ?? DEFAULT_CHANNEL_PREFIX;
    if (/[*?[\]\\]/.test(this.prefix)) {
      throw new Error(`channelPrefix must not contain glob characters: ${this.prefix}`);
    }
    this.maxInFlight = options.maxInFlightPublishes ?? 1000;
    this.logger = options.logger;
    this.metrics = busMetrics(options.registry);
    this.fanout = new LocalFanout(options.logger);
    const retryStrategy = (attempt: number): number => Math.min(100 * 2 ** Math.min(attempt, 5), 2000);
    // Publisher: fail fast while disconnected instead of queueing without bound.
    this.pub = new Redis(options.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy,
      connectionName: `aiops-bus-pub-${this.originId}`,
    });
    // Subscriber: (un)subscribe commands are few and must survive a reconnect.
    this.sub = new Redis(options.url, {
      autoResubscribe: true,
      maxRetriesPerRequest: null,
      retryStrategy,
      connectionName: `aiops-bus-sub-${this.originId}`,
    });
    this.watch(this.pub, 'publisher');
    this.watch(this.sub, 'subscriber');
    this.sub.on('message', (channel: string, payload: string) => this.onRemote(channel, payload, false));
    this.sub.on('pmessage', (_pattern: string, channel: string, payload: string) =>
      this.onRemote(channel, payload, true),
    );
  }

  /** Resolves when both connections are ready (tests and start-up checks). */
  async ready(timeoutMs = 5000): Promise<void> {
    const wait = (r: Redis): Promise<void> =>
      r.status === 'ready' ? Promise.resolve() : new Promise((resolve) => r.once('ready', () => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`redis bus not ready after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([Promise.all([wait(this.pub), wait(this.sub)]), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  publish(batch: BusBatch): void {
    if (this.closed) return;
    this.queue.push(batch);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
    this.metrics.published.inc({ bus: 'redis' });
    if (this.pub.status !== 'ready') {
      this.metrics.publishDropped.inc({ bus: 'redis', reason: 'disconnected' });
      return;
    }
    if (this.inFlight >= this.maxInFlight) {
      this.metrics.publishDropped.inc({ bus: 'redis', reason: 'backlog' });
      return;
    }
    this.inFlight++;
    this.pub.publish(this.channel(batch.cluster), encodeBusBatch(this.originId, batch)).then(
      () => {
        this.inFlight--;
      },
      (err: unknown) => {
        this.inFlight--;
        this.metrics.publishDropped.inc({ bus: 'redis', reason: 'error' });
        this.logger?.debug({ err }, 'bus publish failed');
      },
    );
  }

  subscribe(cluster: string, handler: (batch: BusBatch) => void): () => void {
    const all = cluster === '*';
    const target = all ? `${this.prefix}:*` : this.channel(cluster);
    const onError = (err: unknown): void => {
      this.logger?.warn({ err, cluster }, 'bus (un)subscribe failed; ioredis retries on reconnect');
    };
    return this.fanout.add(cluster, handler, {
      onFirst: () => {
        (all ? this.sub.psubscribe(target) : this.sub.subscribe(target)).catch(onError);
      },
      onLast: () => {
        if (this.closed) return;
        (all ? this.sub.punsubscribe(target) : this.sub.unsubscribe(target)).catch(onError);
      },
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.fanout.clear();
    await Promise.allSettled([quitOrDrop(this.pub), quitOrDrop(this.sub)]);
  }

  private channel(cluster: string): string {
    return `${this.prefix}:${cluster}`;
  }

  private drain(): void {
    this.scheduled = false;
    const batches = this.queue;
    this.queue = [];
    for (const batch of batches) this.fanout.deliver(batch);
  }

  private onRemote(channel: string, payload: string, viaPattern: boolean): void {
    let envelope;
    try {
      envelope = decodeBusBatch(payload);
    } catch (err) {
      this.metrics.decodeErrors.inc({ bus: 'redis' });
      this.logger?.warn({ err, channel }, 'dropped undecodable bus payload');
      return;
    }
    if (envelope.origin === this.originId) return;
    if (channel !== this.channel(envelope.batch.cluster)) {
      this.metrics.decodeErrors.inc({ bus: 'redis' });
      this.logger?.warn(
        { channel, cluster: envelope.batch.cluster },
        'dropped bus payload on a foreign channel',
      );
      return;
    }
    this.metrics.received.inc({ bus: 'redis' });
    // A replica holding both the cluster channel and the pattern gets the
    // payload twice from Redis: each copy goes only to its own handlers.
    this.fanout.deliver(envelope.batch, viaPattern ? '*' : envelope.batch.cluster);
  }

  private watch(conn: Redis, role: string): void {
    let down = false;
    conn.on('error', (err: unknown) => {
      if (!down) this.logger?.warn({ err, role }, 'redis bus connection error');
      down = true;
    });
    conn.on('ready', () => {
      if (down) this.logger?.info({ role }, 'redis bus reconnected');
      down = false;
    });
  }
}

/** How long close() lets Redis answer QUIT before dropping the connection. */
const QUIT_TIMEOUT_MS = 1000;

/**
 * QUIT a connection that is up (Redis finishes what it was sent), or drop it
 * at once when it is down or does not answer in time. A bare quit() on the
 * subscriber while Redis is down waits in ioredis's offline queue for a
 * reconnect that may never come, and the hub could not stop.
 */
async function quitOrDrop(conn: Redis): Promise<void> {
  if (conn.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      conn.quit().catch(() => undefined),
      new Promise((resolve) => {
        timer = setTimeout(resolve, QUIT_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
  }
  conn.disconnect();
}
