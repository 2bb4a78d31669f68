/*
 * The two-replica test: two hub processes (child processes, each with its own
 * store connection pool) on one real PostgreSQL database, and one agent that
 * moves between them — after a crash (SIGKILL), after a graceful stop, and
 * with both connections open at once. The database must end up with every
 * batch exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MetricType, TestIngestClient, type Batch, type TestStream } from '../../../hub/codec/test-client.js';
import { openStore } from '../../../hub/store/index.js';
import type { Store } from '../../../hub/store/store.js';
import { describeWithComponent, pgMissing, pgUrl } from '../../support/components.js';
import { createTestDatabase } from '../../support/databases.js';
import { countDuplicateSamples, silentLogger } from './support.js';

const replicaScript = fileURLToPath(new URL('./hub-replica.ts', import.meta.url));

interface Replica {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly exited: Promise<number | null>;
}

function startReplica(url: string): Promise<Replica> {
  const proc = spawn(process.execPath, ['--import', 'tsx', replicaScript], {
    env: { ...process.env, AIOPS_REPLICA_DB_URL: url },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('replica did not start in 60 s')), 60_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, port: Number(m[1]), exited });
      }
    });
    void exited.then((code) => reject(new Error(`replica exited early (${code})`)));
  });
}

describeWithComponent('PostgreSQL', pgMissing, 'two hub ingest replicas on one PostgreSQL database', () => {
  let db: { url: string; drop(): Promise<void> };
  let store: Store;
  let token: string;
  const replicas: Replica[] = [];
  const clients: TestIngestClient[] = [];
  const cluster = 'replicas';
  const agentId = 'roaming-agent';
  const perBatch = 500;
  const t0 = Date.now() - 3600_000;

  beforeAll(async () => {
    db = await createTestDatabase(pgUrl!, 'aiops_ingest');
    // Migrate once here; the replicas then open an up-to-date schema.
    store = await openStore({ databaseUrl: db.url, dataDir: '', retentionDays: 30 }, silentLogger);
    token = (await store.enrollmentTokens.create(cluster, 'replica test')).token;
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const r of replicas) r.proc.kill('SIGKILL');
    await store?.close();
    await db?.drop();
  }, 60_000);

  /** Batch `seq`, deterministic: the same sequence always carries the same samples. */
  function batch(seq: number): Partial<Batch> & Pick<Batch, 'sequence'> {
    return {
      sequence: seq,
      // The series table is per stream: define the series in every batch (harmless when repeated).
      series: [
        {
          ref: 1,
          metric: 'gpu_utilization_ratio',
          source: 'gpu',
          entity: 'GPU-0',
          labels: [],
          type: MetricType.METRIC_TYPE_GAUGE,
        },
      ],
      samples: [
        {
          ref: 1,
          timestampsMs: Array.from({ length: perBatch }, (_, i) => t0 + (seq * perBatch + i) * 10),
          values: Array.from({ length: perBatch }, (_, i) => i / perBatch),
        },
      ],
    };
  }

  function connect(r: Replica): TestStream {
    const c = new TestIngestClient(`127.0.0.1:${r.port}`);
    clients.push(c);
    const s = c.stream(token);
    s.hello({ agentId, cluster, node: 'n1' });
    return s;
  }

  async function welcome(s: TestStream): Promise<number> {
    const m = await s.next(30_000);
    if (m.msg?.$case !== 'welcome') throw new Error('expected Welcome');
    return m.msg.welcome.lastAckedSequence;
  }

  /** Sends from..to with the window respected; returns the acks seen. */
  async function sendRange(
    s: TestStream,
    from: number,
    to: number,
    window = 4,
  ): Promise<{ seq: number; duplicate: boolean }[]> {
    const acks: { seq: number; duplicate: boolean }[] = [];
    let next = from;
    while (next <= to && next - from < window) s.batch(batch(next++));
    while (acks.length < to - from + 1) {
      const m = await s.next(30_000);
      if (m.msg?.$case !== 'ack') continue;
      acks.push({ seq: m.msg.ack.sequence, duplicate: m.msg.ack.duplicate });
      if (next <= to) s.batch(batch(next++));
    }
    return acks;
  }

  it('stores every batch exactly once while the agent moves between replicas', async () => {
    const a = await startReplica(db.url);
    const b = await startReplica(db.url);
    replicas.push(a, b);

    // 1. Batches 1..10 through A, acked.
    const sa = connect(a);
    expect(await welcome(sa)).toBe(0);
    expect((await sendRange(sa, 1, 10)).map((x) => x.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

    // 2. 11..14 sent to A, which is killed before (some of) their acks arrive.
    for (let seq = 11; seq <= 14; seq++) sa.batch(batch(seq));
    a.proc.kill('SIGKILL');
    await a.exited;
    await sa.finished(30_000).catch(() => undefined);

    // 3. Reconnect to B. A careless agent resends from its own last ack (10),
    //    even though A may have committed some of 11..14: those are duplicates.
    const sb = connect(b);
    const durable = await welcome(sb);
    expect(durable).toBeGreaterThanOrEqual(10);
    expect(durable).toBeLessThanOrEqual(14);
    const acksB = await sendRange(sb, 11, 20);
    expect(acksB.map((x) => x.seq)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    expect(acksB.filter((x) => x.duplicate).map((x) => x.seq)).toEqual(
      Array.from({ length: durable - 10 }, (_, i) => 11 + i),
    );

    // 4. Both replicas at once: a restarted A and B receive the same 21..25.
    const a2 = await startReplica(db.url);
    replicas.push(a2);
    const sa2 = connect(a2);
    expect(await welcome(sa2)).toBe(20);
    const [x, y] = await Promise.all([sendRange(sa2, 21, 25), sendRange(sb, 21, 25)]);
    const stored = [...x, ...y]
      .filter((k) => !k.duplicate)
      .map((k) => k.seq)
      .sort((p, q) => p - q);
    expect(stored).toEqual([21, 22, 23, 24, 25]);

    // 5. Graceful stop of B while batches are in flight: they are acked before UNAVAILABLE.
    for (let seq = 26; seq <= 29; seq++) sb.batch(batch(seq));
    b.proc.kill('SIGTERM');
    const ackedOnB: number[] = [];
    let endErr;
    for (;;) {
      try {
        const m = await sb.next(30_000);
        if (m.msg?.$case === 'ack') ackedOnB.push(m.msg.ack.sequence);
      } catch (e) {
        endErr = e as { code?: number };
        break;
      }
    }
    expect(await b.exited).toBe(0);
    expect(endErr?.code).toBe(status.UNAVAILABLE);
    // The agent on A2 continues after whatever B acked (B's acks arrived, nothing lost).
    const last = Math.max(25, ...ackedOnB);
    sa2.call.end();
    const sa3 = connect(a2);
    expect(await welcome(sa3)).toBe(last);
    await sendRange(sa3, last + 1, 30);
    sa3.call.end();

    expect(await store.lastSequence(agentId)).toBe(30);
    const r = await store.sql.query<{ n: string }>('SELECT count(*)::text AS n FROM samples');
    expect(Number(r.rows[0]!.n)).toBe(30 * perBatch);
    expect(await countDuplicateSamples(store)).toBe(0);
  }, 180_000);
});
