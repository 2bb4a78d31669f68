import { status } from '@grpc/grpc-js';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetricType, RejectReason, Severity, TestIngestClient } from '../codec/test-client.js';
import type { Bus, BusBatch } from '../bus/bus.js';
import { createIngestServer, type IngestServer } from './server.js';
import { MemoryStore } from './testing/memory-store.js';

const logger = pino({ level: 'silent' });

describe('IngestServer (protocol logic over an in-memory store)', () => {
  let store: MemoryStore;
  let server: IngestServer;
  let client: TestIngestClient;
  let token: string;
  let tokenId: string;
  const now = Date.now();

  beforeEach(async () => {
    store = new MemoryStore();
    ({
      token,
      info: { id: tokenId },
    } = await store.enrollmentTokens.create('c1', 'test'));
    server = createIngestServer({
      store,
      logger,
      registry: new Registry(),
      limits: { window: 3, maxSeriesPerStream: 4 },
    });
    const port = await server.start('127.0.0.1:0');
    client = new TestIngestClient(`127.0.0.1:${port}`);
  });
  afterEach(async () => {
    client.close();
    await server.stop({ timeoutMs: 2000 });
  });

  const def = (ref: number, metric = 'gpu_temperature_celsius') => ({
    ref,
    metric,
    source: 'gpu',
    entity: `GPU-${ref}`,
    labels: [{ name: 'model', value: 'H100' }],
    type: MetricType.METRIC_TYPE_GAUGE,
  });

  it('welcomes, stores a batch and acks it after commit', async () => {
    const s = client.stream(token);
    s.hello({ agentId: 'a1', cluster: 'c1' });
    const w = await s.next();
    expect(w.msg?.$case).toBe('welcome');
    if (w.msg?.$case !== 'welcome') return;
    expect(w.msg.welcome.lastAckedSequence).toBe(0);
    expect(w.msg.welcome.window).toBe(3);
    s.batch({
      sequence: 1,
      series: [def(1)],
      samples: [{ ref: 1, timestampsMs: [now - 1000, now], values: [40, 41.5] }],
      events: [
        {
          timestampMs: now,
          kind: 'gpu_xid',
          severity: Severity.SEVERITY_ERROR,
          source: 'gpu',
          entity: 'GPU-1',
          message: 'Xid 79',
          attributes: [],
        },
      ],
    });
    const a = await s.next();
    expect(a.msg).toMatchObject({
      $case: 'ack',
      ack: { sequence: 1, duplicate: false, result: { samplesStored: 2, eventsStored: 1, rejections: [] } },
    });
    expect(store.samples.map((x) => x.value)).toEqual([40, 41.5]);
    expect(store.series[0]).toMatchObject({
      cluster: 'c1',
      node: 'node-1',
      metric: 'gpu_temperature_celsius',
      labels: { model: 'H100' },
    });
    expect(store.eventRows[0]).toMatchObject({ cluster: 'c1', kind: 'gpu_xid', severity: 'error' });
    s.call.end();
    expect(await s.finished()).toBeUndefined();
  });

  it('acks a replayed sequence as duplicate and stores nothing twice', async () => {
    const s = client.stream(token);
    s.hello({ agentId: 'a1', cluster: 'c1' });
    await s.next();
    const batch = { sequence: 1, series: [def(1)], samples: [{ ref: 1, timestampsMs: [now], values: [1] }] };
    s.batch(batch);
    await s.next();
    s.batch(batch);
    expect((await s.next()).msg).toMatchObject({ $case: 'ack', ack: { sequence: 1, duplicate: true } });
    expect(store.samples).toHaveLength(1);
    s.call.end();
    await s.finished();
    // A new stream resumes after the stored high-water mark.
    const s2 = client.stream(token);
    s2.hello({ agentId: 'a1', cluster: 'c1' });
    expect((await s2.next()).msg).toMatchObject({ $case: 'welcome', welcome: { lastAckedSequence: 1 } });
    s2.batch(batch);
    expect((await s2.next()).msg).toMatchObject({ $case: 'ack', ack: { sequence: 1, duplicate: true } });
    expect(store.samples).toHaveLength(1);
    s2.call.end();
  });

  it('refuses a call without a valid token with UNAUTHENTICATED and stores nothing', async () => {
    for (const t of [undefined, 'wrong']) {
      const s = client.stream(t);
      s.hello({ agentId: 'a1', cluster: 'c1' });
      s.batch({ sequence: 1, series: [def(1)], samples: [{ ref: 1, timestampsMs: [now], values: [1] }] });
      const err = await s.finished();
      expect(err?.code).toBe(status.UNAUTHENTICATED);
    }
    await expect(client.push('wrong', {})).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    expect(store.samples).toHaveLength(0);
    expect(store.series).toHaveLength(0);
  });

  it('refuses a token of another cluster with PERMISSION_DENIED', async () => {
    const s = client.stream(token);
    s.hello({ agentId: 'a1', cluster: 'other' });
    expect((await s.finished())?.code).toBe(status.PERMISSION_DENIED);
  });

  it('requires Hello first (FAILED_PRECONDITION)', async () => {
    const s = client.stream(token);
    s.batch({ sequence: 1 });
    const err = await s.finished();
    expect(err?.code).toBe(status.FAILED_PRECONDITION);
    expect(err?.details).toMatch(/first message of a stream must be Hello/);
  });

  it('rejects a sequence gap unless dropped_before explains it', async () => {
    const s = client.stream(token);
    s.hello({ agentId: 'a1', cluster: 'c1' });
    await s.next();
    s.batch({ sequence: 3, droppedBefore: 2 });
    expect((await s.next()).msg).toMatchObject({ $case: 'ack', ack: { sequence: 3 } });
    s.batch({ sequence: 5 });
    const err = await s.finished();
    expect(err?.code).toBe(status.FAILED_PRECONDITION);
    expect(err?.details).toMatch(/sequence gap: batch 5 .* does not follow 3/);
    expect(store.highWater.get('a1')).toBe(3);
  });

  it('fails the stream with RESOURCE_EXHAUSTED when the window is exceeded', async () => {
    store.commitDelayMs = 200;
    const s = client.stream(token);
    s.hello({ agentId: 'a1', cluster: 'c1' });
    await s.next();
    for (let seq = 1; seq <= 4; seq++) s.batch({ sequence: seq });
    const seen: string[] = [];
    await expect(
      (async () => {
        for (;;) seen.push((await s.next()).msg?.$case ?? '');
      })(),
    ).rejects.toMatchObject({ code: status.RESOURCE_EXHAUSTED });
    expect(s.error?.details).toMatch(/window exceeded/);
  });

  it('counts per-item problems as rejections and stores the rest', async () => {
    const s = client.stream(token);
    s.hello({ agentId: 'a1', cluster: 'c1' });
    await s.next();
    s.batch({
      sequence: 1,
      series: [
        def(1),
        { ...def(2), labels: [{ name: 'x', value: 'v'.repeat(2000) }] },
        { ...def(3), metric: 'bad metric' },
      ],
      samples: [
        {
          ref: 1,
          timestampsMs: [now, now - 30 * 24 * 3600_000, now + 3600_000, now + 1],
          values: [1, 2, 3, Number.NaN],
        },
        { ref: 1, timestampsMs: [now], values: [Number.POSITIVE_INFINITY] },
        { ref: 1, timestampsMs: [now, now + 2], values: [5] },
        { ref: 2, timestampsMs: [now], values: [1] },
        { ref: 9, timestampsMs: [now], values: [1] },
      ],
      events: [
        {
          timestampMs: now,
          kind: 'Bad Kind',
          severity: Severity.SEVERITY_INFO,
          source: 'gpu',
          entity: '',
          message: '',
          attributes: [],
        },
      ],
      inventory: [
        {
          observedMs: now,
          source: 'gpu',
          entity: 'GPU-1',
          kind: 'gpu',
          attributes: [],
          absent: false,
          absentReason: 'x',
        },
      ],
    });
    const a = await s.next();
    if (a.msg?.$case !== 'ack') throw new Error('expected an ack');
    const r = a.msg.ack.result!;
    expect(r.samplesStored).toBe(1);
    const by = Object.fromEntries(r.rejections.map((x) => [x.reason, x.count]));
    expect(by).toEqual({
      [RejectReason.REJECT_REASON_LABEL_TOO_LONG]: 1,
      [RejectReason.REJECT_REASON_INVALID_SERIES]: 1,
      [RejectReason.REJECT_REASON_NON_FINITE_VALUE]: 2,
      [RejectReason.REJECT_REASON_TIMESTAMP_TOO_OLD]: 1,
      [RejectReason.REJECT_REASON_TIMESTAMP_IN_FUTURE]: 1,
      [RejectReason.REJECT_REASON_MISMATCHED_LENGTHS]: 2,
      [RejectReason.REJECT_REASON_UNKNOWN_SERIES_REF]: 2,
      [RejectReason.REJECT_REASON_INVALID_EVENT]: 1,
      [RejectReason.REJECT_REASON_INVALID_INVENTORY]: 1,
    });
    expect(
      r.rejections.find((x) => x.reason === RejectReason.REJECT_REASON_UNKNOWN_SERIES_REF)?.example,
    ).toMatch(/ref 2 \(its definition was refused/);
    expect(store.samples).toEqual([{ seriesId: 1, timestampMs: now, value: 1 }]);
    s.call.end();
  });

  it('limits the series per stream', async () => {
    const s = client.stream(token);
    s.hello({ agentId: 'a1', cluster: 'c1' });
    await s.next();
    s.batch({
      sequence: 1,
      series: [1, 2, 3, 4, 5].map((r) => def(r)),
      samples: [1, 2, 3, 4, 5].map((ref) => ({ ref, timestampsMs: [now], values: [ref] })),
    });
    const a = await s.next();
    if (a.msg?.$case !== 'ack') throw new Error('expected an ack');
    expect(a.msg.ack.result!.samplesStored).toBe(4);
    expect(a.msg.ack.result!.rejections.map((x) => [x.reason, x.count])).toEqual([
      [RejectReason.REJECT_REASON_TOO_MANY_SERIES, 1],
      [RejectReason.REJECT_REASON_UNKNOWN_SERIES_REF, 1],
    ]);
    s.call.end();
  });

  it('fails the stream with UNAVAILABLE when a commit fails, and the agent can resend', async () => {
    const s = client.stream(token);
    s.hello({ agentId: 'a1', cluster: 'c1' });
    await s.next();
    store.failNextCommit = true;
    s.batch({ sequence: 1, series: [def(1)], samples: [{ ref: 1, timestampsMs: [now], values: [1] }] });
    expect((await s.finished())?.code).toBe(status.UNAVAILABLE);
    expect(store.samples).toHaveLength(0);
    const s2 = client.stream(token);
    s2.hello({ agentId: 'a1', cluster: 'c1' });
    expect((await s2.next()).msg).toMatchObject({ welcome: { lastAckedSequence: 0 } });
    s2.batch({ sequence: 1, series: [def(1)], samples: [{ ref: 1, timestampsMs: [now], values: [1] }] });
    expect((await s2.next()).msg).toMatchObject({ ack: { sequence: 1, duplicate: false } });
    expect(store.samples).toHaveLength(1);
    s2.call.end();
  });

  it('cuts the streams of a revoked token with UNAUTHENTICATED', async () => {
    const s = client.stream(token);
    s.hello({ agentId: 'a1', cluster: 'c1' });
    await s.next();
    expect(server.revokeToken(tokenId)).toBe(1);
    expect((await s.finished())?.code).toBe(status.UNAUTHENTICATED);
  });

  it('drains in-flight batches on stop: they are committed and acked, then UNAVAILABLE', async () => {
    store.commitDelayMs = 300;
    const s = client.stream(token);
    s.hello({ agentId: 'a1', cluster: 'c1' });
    await s.next();
    s.batch({ sequence: 1, series: [def(1)], samples: [{ ref: 1, timestampsMs: [now], values: [1] }] });
    s.batch({ sequence: 2, samples: [{ ref: 1, timestampsMs: [now + 1], values: [2] }] });
    await new Promise((r) => setTimeout(r, 50));
    const stopping = server.stop({ timeoutMs: 5000 });
    const acks: number[] = [];
    await expect(
      (async () => {
        for (;;) {
          const m = await s.next();
          if (m.msg?.$case === 'ack') acks.push(m.msg.ack.sequence);
        }
      })(),
    ).rejects.toMatchObject({ code: status.UNAVAILABLE });
    await stopping;
    await server.stop();
    expect(acks).toEqual([1, 2]);
    expect(store.samples).toHaveLength(2);
  });

  it('serves the unary Push with the same rules', async () => {
    const hello = { agentId: 'p1', cluster: 'c1', node: 'n', version: 'x', capabilities: [] };
    const batch = {
      sequence: 1,
      droppedBefore: 0,
      series: [def(7)],
      samples: [{ ref: 7, timestampsMs: [now], values: [3] }],
      events: [],
      inventory: [],
    };
    const r1 = await client.push(token, { hello, batch });
    expect(r1).toMatchObject({ ackedSequence: 1, duplicate: false, result: { samplesStored: 1 } });
    const r2 = await client.push(token, { hello, batch });
    expect(r2).toMatchObject({ ackedSequence: 1, duplicate: true });
    await expect(client.push(token, { hello, batch: { ...batch, sequence: 5 } })).rejects.toMatchObject({
      code: status.FAILED_PRECONDITION,
    });
    await expect(client.push(token, { hello: { ...hello, cluster: 'x' }, batch })).rejects.toMatchObject({
      code: status.PERMISSION_DENIED,
    });
    expect(store.samples).toHaveLength(1);
  });

  it('publishes committed samples and events to the bus, and counts them in metrics', async () => {
    const published: BusBatch[] = [];
    const bus: Bus = {
      publish: (b) => void published.push(b),
      subscribe: () => () => undefined,
      close: async () => undefined,
    };
    const registry = new Registry();
    const srv = createIngestServer({ store, bus, logger, registry });
    const port = await srv.start('127.0.0.1:0');
    const c = new TestIngestClient(`127.0.0.1:${port}`);
    try {
      const s = c.stream(token);
      s.hello({ agentId: 'bus-agent', cluster: 'c1' });
      await s.next();
      s.batch({
        sequence: 1,
        series: [def(1), def(2)],
        samples: [
          { ref: 1, timestampsMs: [now, now + 1], values: [1, 2] },
          { ref: 2, timestampsMs: [now], values: [Number.NaN] },
        ],
      });
      await s.next();
      s.batch({ sequence: 1 });
      await s.next();
      expect(published).toHaveLength(1);
      expect(published[0]!.cluster).toBe('c1');
      expect(published[0]!.samples).toEqual([
        {
          series: expect.objectContaining({ id: 1, entity: 'GPU-1' }),
          timestampsMs: [now, now + 1],
          values: [1, 2],
        },
      ]);
      const text = await registry.metrics();
      expect(text).toMatch(/aiops_ingest_samples_stored_total 2/);
      expect(text).toMatch(/aiops_ingest_samples_received_total\{rpc="stream"\} 3/);
      expect(text).toMatch(/aiops_ingest_rejections_total\{reason="non_finite_value"\} 1/);
      expect(text).toMatch(/aiops_ingest_duplicate_batches_total 1/);
      expect(text).toMatch(/aiops_ingest_active_streams 1/);
      expect(text).toMatch(/aiops_ingest_commit_duration_seconds_count 1/);
      s.call.end();
      await s.finished();
    } finally {
      c.close();
      await srv.stop();
    }
  });

  it('ends the older stream of an agent with ABORTED when it opens a newer one', async () => {
    const s1 = client.stream(token);
    s1.hello({ agentId: 'twice', cluster: 'c1' });
    await s1.next();
    const s2 = client.stream(token);
    s2.hello({ agentId: 'twice', cluster: 'c1' });
    await s2.next();
    expect((await s1.finished())?.code).toBe(status.ABORTED);
    s2.batch({ sequence: 1 });
    expect((await s2.next()).msg).toMatchObject({ ack: { sequence: 1 } });
    s2.call.end();
  });

  it('refuses a malformed Hello with INVALID_ARGUMENT', async () => {
    const s = client.stream(token);
    s.hello({ agentId: 'bad id with spaces', cluster: 'c1' });
    const err = await s.finished();
    expect(err?.code).toBe(status.INVALID_ARGUMENT);
    expect(err?.details).toMatch(/agent_id/);
  });

  it('stop() is safe before start and twice', async () => {
    const srv = createIngestServer({ store, logger, registry: new Registry() });
    await srv.stop();
    await srv.stop();
  });

  it('consults the store before calling a gap: another replica may have stored the batches in between', async () => {
    const s = client.stream(token);
    s.hello({ agentId: 'roamer', cluster: 'c1' });
    expect((await s.next()).msg).toMatchObject({ welcome: { lastAckedSequence: 0 } });
    store.highWater.set('roamer', 3); // committed through another hub meanwhile
    s.batch({ sequence: 4 });
    expect((await s.next()).msg).toMatchObject({ ack: { sequence: 4, duplicate: false } });
    s.batch({ sequence: 2 });
    expect((await s.next()).msg).toMatchObject({ ack: { sequence: 2, duplicate: true } });
    s.batch({ sequence: 9 });
    expect((await s.finished())?.code).toBe(status.FAILED_PRECONDITION);
  });
});
