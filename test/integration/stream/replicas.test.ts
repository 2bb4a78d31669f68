import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { BusBatch } from '../../../hub/bus/bus.js';
import { describeWithComponent, redisMissing, redisUrl } from '../../support/components.js';
import { TestClient, eventually, series } from './support.js';

const REPLICA = new URL('./replica-main.ts', import.meta.url).pathname;

/** A hub replica in a child process (replica-main.ts). */
class Replica {
  readonly port: Promise<number>;
  private constructor(readonly child: ChildProcess) {
    const lines = createInterface({ input: child.stdout! });
    this.port = new Promise((resolve, reject) => {
      lines.on('line', (line) => {
        const msg = JSON.parse(line) as { port?: number };
        if (msg.port !== undefined) resolve(msg.port);
      });
      child.once('exit', (code) => reject(new Error(`replica exited with ${code}`)));
    });
  }

  static start(url: string, prefix: string): Replica {
    const child = spawn(process.execPath, ['--import', 'tsx', REPLICA, url, prefix], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    return new Replica(child);
  }

  publish(batch: BusBatch): void {
    this.child.stdin!.write(`${JSON.stringify({ publish: batch })}\n`);
  }

  async url(): Promise<string> {
    return `ws://127.0.0.1:${await this.port}/api/v1/stream`;
  }

  /** Sum of the metric's series whose labels contain `labels` (all of them when empty). */
  async metric(name: string, labels = ''): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${await this.port}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(labels))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  }

  stop(): void {
    this.child.stdin!.end();
    setTimeout(() => this.child.kill('SIGKILL'), 2000).unref();
  }
}

function sample(value: number): BusBatch {
  return {
    cluster: 'c1',
    samples: [{ series: series(1), timestampsMs: [Date.now()], values: [value] }],
    events: [],
  };
}

/** Publishes on `from` every 100 ms until `to` has received `value`. */
async function deliver(from: Replica, to: TestClient, value: number, timeoutMs = 15_000): Promise<void> {
  const timer = setInterval(() => from.publish(sample(value)), 100);
  try {
    await to.waitFor(() => to.samples('s').some((t) => t[2] === value), timeoutMs);
  } finally {
    clearInterval(timer);
  }
}

async function subscribe(url: string): Promise<TestClient> {
  const client = await TestClient.connect(url, 'replica-token');
  client.send({ type: 'subscribe', id: 's', stream: 'samples', selector: { cluster: 'c1' } });
  await client.waitFor((m) => m.type === 'ack');
  return client;
}

describeWithComponent('redis', redisMissing, 'two hub replicas sharing Redis', () => {
  const replicas: Replica[] = [];
  const clients: TestClient[] = [];
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
    for (const r of replicas.splice(0)) r.stop();
  });

  it('deliver a sample published on one replica to a subscriber on the other', async () => {
    const prefix = `aiops:test:${randomUUID()}`;
    const a = Replica.start(redisUrl!, prefix);
    const b = Replica.start(redisUrl!, prefix);
    replicas.push(a, b);
    const client = await subscribe(await b.url());
    clients.push(client);
    await deliver(a, client, 42);
    // The replica without subscribers receives nothing (per-cluster channels).
    expect(await a.metric('aiops_bus_received_batches_total', 'bus="redis"')).toBe(0);
    expect(await b.metric('aiops_bus_received_batches_total', 'bus="redis"')).toBeGreaterThan(0);
  }, 60_000);
});

const redisServer =
  spawnSync('redis-server', ['--version']).status === 0 ? undefined : 'redis-server not on PATH';

describeWithComponent('redis-server', redisMissing ?? redisServer, 'replicas across a Redis restart', () => {
  let server: ChildProcess | undefined;
  let port = 0;
  const replicas: Replica[] = [];
  const clients: TestClient[] = [];

  const startRedis = async (): Promise<void> => {
    server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    await eventually(() => {
      if (
        spawnSync('redis-cli', ['-p', String(port), 'ping'])
          .stdout.toString()
          .trim() !== 'PONG'
      ) {
        throw new Error('redis not up');
      }
    }, 10_000);
  };
  const stopRedis = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (!s || s.exitCode !== null) return;
    const exited = new Promise((resolve) => s.once('exit', resolve));
    s.kill('SIGKILL');
    await exited;
  };

  beforeAll(async () => {
    port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as { port: number }).port;
        probe.close(() => resolve(p));
      });
    });
    await startRedis();
  });
  afterAll(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const r of replicas.splice(0)) r.stop();
    await stopRedis();
  });

  it('reconnect and resubscribe when Redis restarts mid-stream', async () => {
    const url = `redis://127.0.0.1:${port}`;
    const prefix = `aiops:test:${randomUUID()}`;
    const a = Replica.start(url, prefix);
    const b = Replica.start(url, prefix);
    replicas.push(a, b);
    const client = await subscribe(await b.url());
    clients.push(client);
    await deliver(a, client, 1);

    await stopRedis();
    // While Redis is down, publishing neither blocks nor queues: it is counted as dropped
    // ("error" while ioredis has not yet noticed the closed socket, "disconnected" after).
    await eventually(async () => {
      a.publish(sample(2));
      expect(await a.metric('aiops_bus_publish_dropped_batches_total', 'bus="redis"')).toBeGreaterThan(0);
    }, 15_000);
    await startRedis();
    await deliver(a, client, 3, 30_000);
    expect(client.closeCode).toBeUndefined();
  }, 90_000);
});
