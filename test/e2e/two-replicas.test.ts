/*
 * Two hub replicas as a user runs them: two `node --import tsx hub/main.ts`
 * processes on one PostgreSQL database and one Redis, each with its own
 * loopback HTTP and gRPC ports. Everything goes through the public
 * interfaces: credentials are created through the REST API of one replica,
 * samples and events are pushed through gRPC (the public .proto, loaded at
 * run time like a third-party agent would) and watched through the WebSocket
 * stream of the other replica with a viewer API key.
 *
 * The first suite uses the machine's Redis (AIOPS_TEST_REDIS_URL); the second
 * runs a private redis-server so that it can kill and restart it under the
 * replicas without disturbing anything else.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULT_CHANNEL_PREFIX } from '../../hub/bus/redis-bus.js';
import { TestClient } from '../integration/stream/support.js';
import { describeWithComponent, pgMissing, pgUrl, redisMissing, redisUrl } from '../support/components.js';
import { createTestDatabase } from '../support/databases.js';
import { startHubProcess, type HubProcess } from '../support/hub-process.js';
import { PrivateRedis, redisServerMissing } from '../support/redis-server.js';

/** Generous: four hub processes start on a loaded 2-core machine; every wait below is a bounded poll. */
const DELIVERY_TIMEOUT_MS = 30_000;

type PushClient = grpc.Client & {
  Push(
    request: unknown,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (err: grpc.ServiceError | null, res: { acked_sequence: number; duplicate: boolean }) => void,
  ): void;
};

const IngestService = (() => {
  const definition = protoLoader.loadSync(join(import.meta.dirname, '../../proto/aiops/v1/ingest.proto'), {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    aiops: { v1: { IngestService: grpc.ServiceClientConstructor } };
  };
  return pkg.aiops.v1.IngestService;
})();

/** One agent identity pushing self-contained batches (unary Push) to one replica. */
class Agent {
  private readonly client: PushClient;
  private sequence = 0;

  constructor(
    grpcAddress: string,
    private readonly token: string,
    readonly cluster: string,
    readonly agentId: string,
    readonly node: string,
  ) {
    this.client = new IngestService(grpcAddress, grpc.credentials.createInsecure()) as unknown as PushClient;
  }

  /** Pushes one sample of `gpu_temperature_celsius` with `value` and one gpu_xid event naming it; resolves on the ack. */
  push(value: number): Promise<void> {
    const sequence = ++this.sequence;
    const now = Date.now();
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${this.token}`);
    const request = {
      hello: { agent_id: this.agentId, cluster: this.cluster, node: this.node, version: 'e2e/1' },
      batch: {
        sequence,
        series: [
          {
            ref: 1,
            metric: 'gpu_temperature_celsius',
            source: 'gpu',
            entity: 'GPU-e2e',
            labels: [{ name: 'gpu', value: '0' }],
            type: 'METRIC_TYPE_GAUGE',
          },
        ],
        samples: [{ ref: 1, timestamps_ms: [now], values: [value] }],
        events: [
          {
            timestamp_ms: now,
            kind: 'gpu_xid',
            severity: 'SEVERITY_ERROR',
            source: 'gpu',
            entity: 'GPU-e2e',
            message: `marker ${value}`,
            attributes: [{ name: 'xid', value: '79' }],
          },
        ],
      },
    };
    return new Promise((resolve, reject) => {
      this.client.Push(request, md, { deadline: Date.now() + 10_000 }, (err, res) => {
        if (err) reject(err);
        else if (res.acked_sequence !== sequence || res.duplicate)
          reject(new Error(`push ${sequence}: unexpected ack ${JSON.stringify(res)}`));
        else resolve();
      });
    });
  }

  close(): void {
    this.client.close();
  }
}

/** A WebSocket client on one replica watching samples and events of one cluster. */
class Watcher {
  private constructor(readonly client: TestClient) {}

  static async open(hub: HubProcess, apiKey: string, cluster: string): Promise<Watcher> {
    const client = await TestClient.connect(hub.wsUrl, apiKey);
    client.send({ type: 'subscribe', id: 's', stream: 'samples', selector: { cluster } });
    client.send({ type: 'subscribe', id: 'e', stream: 'events', selector: { cluster } });
    for (const id of ['s', 'e']) {
      const ack = await client.waitFor(
        (m) => m.id === id && (m.type === 'ack' || m.type === 'error'),
        15_000,
      );
      if (ack.type !== 'ack') throw new Error(`subscribe ${id} refused: ${JSON.stringify(ack)}`);
    }
    return new Watcher(client);
  }

  hasSample(value: number): boolean {
    return this.client.samples('s').some((t) => t[2] === value);
  }

  hasEvent(value: number): boolean {
    return this.events().some((e) => e.message === `marker ${value}`);
  }

  events(): { cluster: string; node: string; kind: string; message: string }[] {
    const out: { cluster: string; node: string; kind: string; message: string }[] = [];
    for (const m of this.client.messages) {
      if (m.type !== 'data') continue;
      const sub = (m.subs as Record<string, { events?: typeof out }>).e;
      if (sub?.events) out.push(...sub.events);
    }
    return out;
  }

  /** The series identities the hub sent on this connection. */
  series(): { id: number; cluster: string; node: string; metric: string; labels: Record<string, string> }[] {
    return this.client.messages
      .filter((m) => m.type === 'data' && Array.isArray(m.series))
      .flatMap((m) => m.series as ReturnType<Watcher['series']>);
  }
}

/**
 * Pushes `value` through `agent` every 250 ms until `watcher` has both the
 * sample and the event. Repeating is deliberate: a replica SUBSCRIBEs its
 * Redis channel when a client subscribes (and again after a Redis restart),
 * and a batch published before that completes is, by design, not replayed.
 */
async function deliver(agent: Agent, watcher: Watcher, value: number): Promise<number> {
  const started = Date.now();
  let pushes = 0;
  let lastError: unknown;
  while (!(watcher.hasSample(value) && watcher.hasEvent(value))) {
    if (watcher.client.closeCode !== undefined) {
      throw new Error(`subscriber socket closed (${watcher.client.closeCode}) while waiting for ${value}`);
    }
    if (Date.now() - started > DELIVERY_TIMEOUT_MS) {
      throw new Error(
        `value ${value} not delivered within ${DELIVERY_TIMEOUT_MS} ms after ${pushes} pushes ` +
          `(last push error: ${String(lastError)}); subscriber got ${JSON.stringify(watcher.client.messages).slice(-800)}`,
      );
    }
    try {
      await agent.push(value);
      pushes++;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return pushes;
}

/** Polls `check` (which throws or returns false while not yet true) every 200 ms up to `timeoutMs`. */
async function eventually(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = DELIVERY_TIMEOUT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (${String(last)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Sum of a hub metric's series whose label set contains `labels`, from its /api/v1/metrics. */
async function metric(hub: HubProcess, adminToken: string, name: string, labels = ''): Promise<number> {
  const res = await fetch(`${hub.httpUrl}/api/v1/metrics`, {
    headers: { authorization: `Bearer ${adminToken}` },
  });
  if (res.status !== 200) throw new Error(`GET /api/v1/metrics: ${res.status} ${await res.text()}`);
  return (await res.text())
    .split('\n')
    .filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(labels))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** POST to a replica's REST API as admin; returns the JSON body (throws on a non-201). */
async function adminPost<T>(hub: HubProcess, adminToken: string, path: string, body: unknown): Promise<T> {
  const res = await fetch(`${hub.httpUrl}/api/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Subscribers of a channel as Redis counts them (PUBSUB NUMSUB). */
async function channelSubscribers(url: string, channel: string): Promise<number> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  // A refused connection rejects connect() below; the error event would only repeat it.
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const reply = (await redis.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
    return Number(reply[1]);
  } finally {
    redis.disconnect();
  }
}

/**
 * Two replicas on a fresh database and `redis`: A and B started side by side
 * (their migrations race on the shared database, as in a rolling deploy), an
 * enrollment token and a viewer API key for a fresh cluster created through A.
 */
async function startReplicas(redis: string): Promise<{
  a: HubProcess;
  b: HubProcess;
  adminToken: string;
  enrollment: string;
  viewerKey: string;
  cluster: string;
  cleanup(): Promise<void>;
}> {
  const db = await createTestDatabase(pgUrl!, 'aiops_replicas');
  const adminToken = `aiops_admin_${randomBytes(24).toString('base64url')}`;
  const settings = {
    AIOPS_DATABASE_URL: db.url,
    AIOPS_REDIS_URL: redis,
    AIOPS_HTTP_ADDRESS: '127.0.0.1:0',
    AIOPS_GRPC_ADDRESS: '127.0.0.1:0',
    AIOPS_ADMIN_TOKEN: adminToken,
    AIOPS_LOG_LEVEL: process.env.AIOPS_TEST_LOG ?? 'warn',
    // Each replica's share of the test database's connections; plenty for this traffic.
    AIOPS_STORE_MAX_CONNECTIONS: '4',
    AIOPS_INGEST_WRITER_CONNECTIONS: '2',
  };
  const started = await Promise.allSettled([
    startHubProcess(settings, { name: 'replica A' }),
    startHubProcess(settings, { name: 'replica B' }),
  ]);
  const hubs = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const cleanup = async (): Promise<void> => {
    const codes = await Promise.all(hubs.map((h) => h.stop()));
    await db.drop();
    // A replica that does not stop cleanly (exit 0 on SIGTERM) is a failure of its own.
    codes.forEach((code, i) => {
      if (code !== 0)
        throw new Error(`replica exited with ${code} on SIGTERM; output:\n${hubs[i]!.output()}`);
    });
  };
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await cleanup().catch(() => undefined);
    throw (failed as PromiseRejectedResult).reason;
  }
  const [a, b] = hubs as [HubProcess, HubProcess];
  const cluster = `e2e-${randomBytes(4).toString('hex')}`;
  const { token: enrollment } = await adminPost<{ token: string }>(
    a,
    adminToken,
    `/clusters/${cluster}/enrollment-tokens`,
    { description: 'two-replica e2e' },
  );
  const { key: viewerKey } = await adminPost<{ key: string }>(a, adminToken, '/api-keys', {
    name: 'two-replica-e2e-viewer',
    role: 'viewer',
    clusters: [cluster],
    expiresInDays: 1,
  });
  return { a, b, adminToken, enrollment, viewerKey, cluster, cleanup };
}

describeWithComponent(
  'PostgreSQL and Redis',
  pgMissing ?? redisMissing,
  'two hub processes sharing PostgreSQL and Redis (AIOPS_TEST_REDIS_URL)',
  () => {
    let env: Awaited<ReturnType<typeof startReplicas>> | undefined;
    const agents: Agent[] = [];
    const watchers: Watcher[] = [];

    beforeAll(async () => {
      env = await startReplicas(redisUrl!);
    }, 180_000);
    afterAll(async () => {
      for (const w of watchers) w.client.close();
      for (const a of agents) a.close();
      await env?.cleanup();
    }, 60_000);

    it('deliver samples and events ingested through gRPC on A to a WebSocket subscriber on B', async () => {
      const { a, b, adminToken, enrollment, viewerKey, cluster } = env!;
      const watcher = await Watcher.open(b, viewerKey, cluster);
      watchers.push(watcher);
      // A watches another cluster: with per-cluster channels Redis still sends A nothing of this one.
      const elsewhere = await Watcher.open(a, adminToken, `${cluster}-elsewhere`);
      watchers.push(elsewhere);
      const agent = new Agent(a.grpcAddress, enrollment, cluster, 'agent-on-a', 'node-a');
      agents.push(agent);

      await deliver(agent, watcher, 42.5);

      const series = watcher
        .series()
        .find((s) => s.id === watcher.client.samples('s').find((t) => t[2] === 42.5)![0]);
      expect(series).toMatchObject({
        cluster,
        node: 'node-a',
        metric: 'gpu_temperature_celsius',
        labels: { gpu: '0' },
      });
      expect(watcher.events().find((e) => e.message === 'marker 42.5')).toMatchObject({
        cluster,
        node: 'node-a',
        kind: 'gpu_xid',
      });
      // Per-cluster channels: A has no subscriber for this cluster, so Redis sends it nothing; B got it over Redis.
      expect(await metric(a, adminToken, 'aiops_bus_received_batches_total', 'bus="redis"')).toBe(0);
      expect(await metric(b, adminToken, 'aiops_bus_received_batches_total', 'bus="redis"')).toBeGreaterThan(
        0,
      );
      expect(await metric(a, adminToken, 'aiops_bus_published_batches_total', 'bus="redis"')).toBeGreaterThan(
        0,
      );
      expect(watcher.client.closeCode).toBeUndefined();
    }, 120_000);
  },
);

describeWithComponent(
  'PostgreSQL and redis-server',
  pgMissing ?? redisServerMissing,
  'two hub processes across a Redis restart (private redis-server)',
  () => {
    let redis: PrivateRedis | undefined;
    let env: Awaited<ReturnType<typeof startReplicas>> | undefined;
    const agents: Agent[] = [];
    const watchers: Watcher[] = [];

    beforeAll(async () => {
      redis = await PrivateRedis.start();
      env = await startReplicas(redis.url);
    }, 180_000);
    afterAll(async () => {
      for (const w of watchers) w.client.close();
      for (const a of agents) a.close();
      try {
        await env?.cleanup();
      } finally {
        await redis?.stop();
      }
    }, 60_000);

    it('resubscribe on both replicas and resume delivery both ways when Redis restarts', async () => {
      const { a, b, adminToken, enrollment, viewerKey, cluster } = env!;
      const channel = `${DEFAULT_CHANNEL_PREFIX}:${cluster}`;
      const onA = await Watcher.open(a, viewerKey, cluster);
      const onB = await Watcher.open(b, viewerKey, cluster);
      watchers.push(onA, onB);
      const toA = new Agent(a.grpcAddress, enrollment, cluster, 'agent-on-a', 'node-a');
      const toB = new Agent(b.grpcAddress, enrollment, cluster, 'agent-on-b', 'node-b');
      agents.push(toA, toB);

      // Before: both directions work and each replica holds one subscription to the cluster's channel.
      await deliver(toA, onB, 1);
      await deliver(toB, onA, 2);
      expect(await channelSubscribers(redis!.url, channel)).toBe(2);

      await redis!.stop();
      // While Redis is down ingest still acks (Push resolves), the replica's own
      // subscribers still get its data, and what could not reach Redis is counted.
      await deliver(toA, onA, 3);
      await eventually('A counts batches it could not publish', async () => {
        await toA.push(4);
        return (await metric(a, adminToken, 'aiops_bus_publish_dropped_batches_total', 'bus="redis"')) > 0;
      });
      expect(onB.hasSample(3)).toBe(false);

      await redis!.start();
      // Both replicas resubscribe on their own (ioredis autoResubscribe): Redis sees two subscribers again.
      await eventually(
        'both replicas resubscribed',
        async () => (await channelSubscribers(redis!.url, channel)) === 2,
      );
      await deliver(toA, onB, 5);
      await deliver(toB, onA, 6);
      // No subscriber noticed the outage: the WebSockets stayed open throughout.
      expect(onA.client.closeCode).toBeUndefined();
      expect(onB.client.closeCode).toBeUndefined();

      // A replica still stops gracefully (SIGTERM, exit 0 within stop()'s 15 s) while Redis is down,
      // closing its WebSockets with a close frame. B stops the same way in afterAll.
      await redis!.stop();
      expect(await a.stop()).toBe(0);
      expect(await onA.client.waitClosed(5000)).toBe(1001);
    }, 180_000);
  },
);
