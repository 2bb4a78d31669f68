import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  credentials,
  Server,
  ServerCredentials,
  status as GrpcStatus,
  type ServerDuplexStream,
} from '@grpc/grpc-js';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { PermanentError } from '../../../hub/errors.js';
import { createIngestServer, type IngestServer } from '../../../hub/ingest/server.js';
import { MemoryStore } from '../../../hub/ingest/testing/memory-store.js';
import type { Appender } from '../../../hub/store/store.js';
import {
  IngestServiceService,
  MetricType,
  Severity,
  type StreamRequest,
  type StreamResponse,
} from '../../../proto/gen/aiops/v1/ingest.js';
import { encodeBatchMessage, type Batch } from '../../encode/batch.js';
import { createAgentMetrics } from '../../ops/metrics.js';
import { Spool } from '../spool/spool.js';
import { DEAD_LETTER_BREAKER, parseRefusal, Sender } from './sender.js';

/** The value that the refusing store below refuses (a store-side check validation let through). */
const POISON = 666;

/** The in-memory store of ingest's tests, refusing any batch that holds POISON while `refusing`. */
class RefusingStore extends MemoryStore {
  refusing = true;
  override appender(): Appender {
    const inner = super.appender();
    let poisoned = false;
    return {
      add: (b) => {
        if (this.refusing && Array.from(b.values).includes(POISON)) poisoned = true;
        inner.add(b);
      },
      rollback: () => inner.rollback(),
      commit: async () => {
        if (poisoned) {
          inner.rollback();
          throw new PermanentError(`value ${POISON} violates a store constraint`);
        }
        return inner.commit();
      },
    };
  }
}

const dirs: string[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const now = Date.now();
function batchOf(values: number[], events = 0): Batch {
  return {
    sequence: 0,
    droppedBefore: 0,
    series: [
      {
        ref: 1,
        metric: 'test_value',
        source: 'test',
        entity: 'e1',
        labels: [],
        type: MetricType.METRIC_TYPE_GAUGE,
      },
    ],
    samples: values.length > 0 ? [{ ref: 1, timestampsMs: values.map((_, i) => now + i), values }] : [],
    events: Array.from({ length: events }, (_, i) => ({
      timestampMs: now + i,
      kind: 'test_event',
      severity: Severity.SEVERITY_INFO,
      source: 'test',
      entity: `e${i}`,
      message: `event ${i}`,
      attributes: [],
    })),
    inventory: [],
  };
}

async function setup(hub: { address: string; token: string }, opts: { permanentRetryMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'aiops-sender-'));
  dirs.push(dir);
  const spool = Spool.open({
    dir,
    maxBytes: 1024 * 1024,
    segmentMaxBytes: 64 * 1024,
    fsync: 'never',
    fsyncIntervalMs: 1000,
    maxRecordBytes: 1024 * 1024,
    logger: pino({ level: 'silent' }),
  });
  const metrics = createAgentMetrics();
  const sender = new Sender({
    address: hub.address,
    credentials: credentials.createInsecure(),
    token: () => hub.token,
    hello: { agentId: 'agent-1', cluster: 'c1', node: 'n1', version: 'test', capabilities: [] },
    spool,
    metrics,
    logger: pino({ level: 'silent' }),
    backoffInitialMs: 20,
    backoffMaxMs: 100,
    permanentRetryMs: opts.permanentRetryMs ?? 60_000,
    welcomeTimeoutMs: 5000,
  });
  cleanups.push(async () => {
    await sender.stop();
    spool.close();
  });
  const append = (b: Batch) => {
    const samples = b.samples.reduce((n, s) => n + s.values.length, 0);
    spool.append((seq) => encodeBatchMessage({ ...b, sequence: seq }), samples);
    sender.notify();
  };
  const metric = async (name: string) =>
    (await metrics.registry.getSingleMetric(name)!.get()).values.reduce((n, v) => n + v.value, 0);
  return { dir, spool, sender, metrics, append, metric };
}

async function realHub(limits: Record<string, number> = {}) {
  const store = new RefusingStore();
  const { token } = await store.enrollmentTokens.create('c1', 'sender test');
  const server: IngestServer = createIngestServer({
    store,
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    limits,
  });
  const port = await server.start('127.0.0.1:0');
  cleanups.push(() => server.stop({ timeoutMs: 1000 }));
  return { store, address: `127.0.0.1:${port}`, token };
}

async function until<T>(
  what: string,
  f: () => T | undefined | Promise<T | undefined>,
  ms = 10_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('parseRefusal', () => {
  it('recognises exactly the refusals that name one batch', () => {
    const RE = GrpcStatus.RESOURCE_EXHAUSTED;
    const IA = GrpcStatus.INVALID_ARGUMENT;
    expect(parseRefusal(RE, 'batch 7 has 900 samples; max_samples_per_batch is 500')).toEqual({
      sequence: 7,
      over: { what: 'samples', limit: 500 },
    });
    expect(parseRefusal(RE, 'batch 8 has 12 events; the limit is 10')).toEqual({
      sequence: 8,
      over: { what: 'events', limit: 10 },
    });
    expect(parseRefusal(RE, 'batch 9 has 12 inventory facts; the limit is 10')).toEqual({
      sequence: 9,
      over: { what: 'inventory', limit: 10 },
    });
    expect(parseRefusal(IA, 'the store refused batch 10: value out of range')).toEqual({ sequence: 10 });
    // About the stream, not one batch.
    expect(parseRefusal(RE, 'Bandwidth exhausted or memory limit exceeded')).toBeUndefined();
    expect(parseRefusal(RE, 'Received message larger than max (5000000 vs 4194304)')).toBeUndefined();
    expect(
      parseRefusal(RE, 'window exceeded: batch 3 would be unacknowledged batch number 9; the window is 8'),
    ).toBeUndefined();
    expect(parseRefusal(IA, 'malformed StreamRequest: bad wire type')).toBeUndefined();
    expect(parseRefusal(IA, 'batch 7 has 900 samples; max_samples_per_batch is 500')).toBeUndefined();
    expect(parseRefusal(GrpcStatus.INTERNAL, 'the store refused batch 10: x')).toBeUndefined();
  });
});

describe('Sender against the real ingest server', () => {
  it('dead-letters the batch the store refuses by name and delivers the others', async () => {
    const hub = await realHub();
    const a = await setup(hub);
    a.sender.start();
    a.append(batchOf([1, 2]));
    a.append(batchOf([3, POISON]));
    a.append(batchOf([4, 5]));
    await until('delivered', () => a.spool.ackedSequence >= 3 || undefined);
    expect(hub.store.samples.map((s) => s.value)).toEqual([1, 2, 4, 5]);
    expect(readdirSync(join(a.dir, 'dead-letter')).sort()).toEqual([
      '00000000000000000002.json',
      '00000000000000000002.rec',
    ]);
    expect(await a.metric('agent_sender_dead_lettered_batches_total')).toBe(1);
  });

  it(`stops dead-lettering after ${DEAD_LETTER_BREAKER} refusals in a row and keeps the rest of the spool`, async () => {
    const hub = await realHub();
    const a = await setup(hub, { permanentRetryMs: 300 });
    for (let i = 1; i <= DEAD_LETTER_BREAKER + 2; i++) a.append(batchOf([i, POISON]));
    a.sender.start();
    await until(
      'breaker open',
      async () => (await a.metric('agent_sender_dead_letter_breaker_trips_total')) || undefined,
    );
    expect(a.sender.status().state).toBe('rejected');
    expect(await a.metric('agent_sender_dead_lettered_batches_total')).toBe(DEAD_LETTER_BREAKER);
    // Still refused on every retry, and still nothing more set aside.
    await new Promise((r) => setTimeout(r, 800));
    expect(await a.metric('agent_sender_dead_lettered_batches_total')).toBe(DEAD_LETTER_BREAKER);
    expect(await a.metric('agent_sender_dead_letter_breaker_trips_total')).toBe(1);
    expect(a.spool.stats().pendingRecords).toBe(2);
    // The hub is fixed: what was kept is delivered, and the breaker closes.
    hub.store.refusing = false;
    await until('delivered', () => a.spool.ackedSequence >= DEAD_LETTER_BREAKER + 2 || undefined);
    expect(hub.store.samples.map((s) => s.value)).toEqual([4, POISON, 5, POISON]);
    expect(a.spool.deadLetteredUnacked).toBe(0);
    expect(a.sender.status().state).toBe('streaming');
  });

  it('splits a batch over the samples limit announced in Welcome instead of sending it', async () => {
    const hub = await realHub({ maxSamplesPerBatch: 3 });
    const a = await setup(hub);
    a.append(batchOf([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    a.append(batchOf([11]));
    a.sender.start();
    await until('delivered', () => hub.store.samples.length === 11 || undefined);
    // The pieces take new sequences, after batch 2: stored once each, in sequence order.
    expect(hub.store.samples.map((s) => s.value)).toEqual([11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await a.metric('agent_sender_split_batches_total')).toBe(1);
    expect(await a.metric('agent_sender_dead_lettered_batches_total')).toBe(0);
  });

  it('splits a batch the hub refuses for its number of events (a limit Welcome does not state)', async () => {
    const hub = await realHub({ maxEventsPerBatch: 2 });
    const a = await setup(hub);
    a.append(batchOf([1], 5));
    a.sender.start();
    await until('delivered', () => hub.store.eventRows.length === 5 || undefined);
    expect(hub.store.eventRows.map((e) => e.message)).toEqual([0, 1, 2, 3, 4].map((i) => `event ${i}`));
    expect(hub.store.samples.map((s) => s.value)).toEqual([1]);
    expect(await a.metric('agent_sender_split_batches_total')).toBe(1);
    expect(await a.metric('agent_sender_dead_lettered_batches_total')).toBe(0);
  });
});

describe('Sender against a peer that resets streams', () => {
  /**
   * What a proxy or the HTTP/2 layer does (ENHANCE_YOUR_CALM surfaces as
   * RESOURCE_EXHAUSTED in grpc-js), and a hub refusing the stream's pace:
   * neither can be provoked from the real hub with a well-behaved agent, so
   * this peer speaks the protocol and then fails each stream with `details`.
   */
  async function resettingPeer(details: string) {
    let streams = 0;
    const server = new Server();
    server.addService(IngestServiceService, {
      stream: (call: ServerDuplexStream<StreamRequest, StreamResponse>) => {
        streams += 1;
        call.on('data', (msg: StreamRequest) => {
          if (msg.msg?.$case === 'hello') {
            call.write({
              msg: {
                $case: 'welcome',
                welcome: { lastAckedSequence: 0, window: 8, limits: undefined, config: undefined },
              },
            });
          } else {
            call.emit('error', { code: GrpcStatus.RESOURCE_EXHAUSTED, details });
          }
        });
        call.on('error', () => undefined);
      },
      push: () => undefined,
    });
    const port = await new Promise<number>((res, rej) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
        err ? rej(err) : res(p),
      ),
    );
    cleanups.push(() => new Promise<void>((r) => server.tryShutdown(() => r())));
    return { address: `127.0.0.1:${port}`, token: 't', streams: () => streams };
  }

  for (const details of [
    'Bandwidth exhausted or memory limit exceeded',
    'window exceeded: batch 1 would be unacknowledged batch number 9; the window is 8',
  ]) {
    it(`keeps the batch in flight on RESOURCE_EXHAUSTED "${details.slice(0, 30)}…" and retries`, async () => {
      const peer = await resettingPeer(details);
      const a = await setup(peer);
      a.append(batchOf([1, 2]));
      a.sender.start();
      await until('several refused streams', () => peer.streams() >= 4 || undefined);
      expect(await a.metric('agent_sender_dead_lettered_batches_total')).toBe(0);
      expect(a.spool.readAfter(0, 10).map((r) => r.sequence)).toEqual([1]);
      expect(a.spool.deadLetteredUnacked).toBe(0);
      // Retrying with backoff, not parked as a permanent rejection.
      expect(['backoff', 'connecting', 'streaming']).toContain(a.sender.status().state);
    });
  }
});
