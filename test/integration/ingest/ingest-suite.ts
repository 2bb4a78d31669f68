import { Client, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  authMetadata,
  MetricType,
  RejectReason,
  Severity,
  TestIngestClient,
  type StreamResponse,
} from '../../../hub/codec/test-client.js';
import {
  createIngestServer,
  type IngestServer,
  type IngestServerOptions,
} from '../../../hub/ingest/server.js';
import type { Store } from '../../../hub/store/store.js';
import {
  countDuplicateSamples,
  countSamples,
  openTestStore,
  silentLogger,
  type Engine,
  type TestStore,
} from './support.js';

/**
 * The ingest server over the real store. Each test uses its own agent ids,
 * and tests that count rows use their own cluster, so one store per file is
 * enough (PGlite takes long to open on this machine).
 */
export function defineIngestSuite(engine: Engine, pgUrl?: string): void {
  let ts: TestStore;
  let store: Store;
  const tokens = new Map<string, { token: string; id: string }>();
  const servers: IngestServer[] = [];
  const clients: TestIngestClient[] = [];

  beforeAll(async () => {
    ts = await openTestStore(engine, pgUrl);
    store = ts.store;
  }, 180_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const s of servers) await s.stop({ timeoutMs: 2000 });
    await ts?.cleanup();
  }, 60_000);

  async function tokenFor(cluster: string): Promise<string> {
    let t = tokens.get(cluster);
    if (!t) {
      const { token, info } = await store.enrollmentTokens.create(cluster, 'ingest test');
      t = { token, id: info.id };
      tokens.set(cluster, t);
    }
    return t.token;
  }

  async function startServer(
    opts: Partial<IngestServerOptions> = {},
  ): Promise<{ server: IngestServer; client: TestIngestClient; port: number; registry: Registry }> {
    const registry = new Registry();
    const server = createIngestServer({ store, logger: silentLogger, registry, ...opts });
    servers.push(server);
    const port = await server.start('127.0.0.1:0');
    const client = new TestIngestClient(`127.0.0.1:${port}`);
    clients.push(client);
    return { server, client, port, registry };
  }

  const now = () => Date.now();
  const def = (
    ref: number,
    extra: Partial<{ metric: string; labels: { name: string; value: string }[] }> = {},
  ) => ({
    ref,
    metric: extra.metric ?? 'gpu_temperature_celsius',
    source: 'gpu',
    entity: `GPU-${ref}`,
    labels: extra.labels ?? [{ name: 'model', value: 'H100' }],
    type: MetricType.METRIC_TYPE_GAUGE,
  });
  const ack = (m: StreamResponse) => {
    if (m.msg?.$case !== 'ack') throw new Error(`expected an ack, got ${m.msg?.$case}`);
    return m.msg.ack;
  };
  const reasons = (a: ReturnType<typeof ack>) =>
    Object.fromEntries(a.result!.rejections.map((r) => [RejectReason[r.reason], r.count]));

  it('stores a batch, acks after commit, and the data is readable through store queries', async () => {
    const { client } = await startServer();
    const cluster = `happy-${engine}`;
    const s = client.stream(await tokenFor(cluster));
    s.hello({ agentId: `${cluster}-a1`, cluster, node: 'gpu-node-1', capabilities: ['gpu'] });
    const w = await s.next();
    expect(w.msg).toMatchObject({ $case: 'welcome', welcome: { lastAckedSequence: 0, window: 8 } });
    const t0 = Math.floor(now() / 1000) * 1000 - 10_000;
    s.batch({
      sequence: 1,
      series: [def(1), def(2, { metric: 'gpu_power_watts' })],
      samples: [
        { ref: 1, timestampsMs: [t0, t0 + 1000, t0 + 2000], values: [60, 61, 62] },
        { ref: 2, timestampsMs: [t0, t0 + 1000], values: [300, 310] },
      ],
      events: [
        {
          timestampMs: t0,
          kind: 'gpu_xid',
          severity: Severity.SEVERITY_ERROR,
          source: 'gpu',
          entity: 'GPU-1',
          message: 'Xid 79',
          attributes: [{ name: 'xid', value: '79' }],
        },
      ],
      inventory: [
        {
          observedMs: t0,
          source: 'gpu',
          entity: 'GPU-1',
          kind: 'gpu',
          attributes: [{ name: 'model', value: 'H100' }],
          absent: false,
          absentReason: '',
        },
      ],
    });
    const a = ack(await s.next());
    expect(a).toMatchObject({
      sequence: 1,
      duplicate: false,
      result: { samplesStored: 5, eventsStored: 1, inventoryStored: 1, rejections: [] },
    });

    const series = await store.findSeries({ cluster });
    expect(series.map((x) => x.metric).sort()).toEqual(['gpu_power_watts', 'gpu_temperature_celsius']);
    expect(series[0]).toMatchObject({
      node: 'gpu-node-1',
      source: 'gpu',
      labels: { model: 'H100' },
      kind: 'gauge',
    });
    const range = await store.queryRange({
      selector: { cluster, metric: 'gpu_temperature_celsius' },
      startMs: t0,
      endMs: t0 + 3000,
      stepMs: 1000,
      aggregation: 'last',
    });
    expect(range[0]!.points.map((p) => p.value)).toEqual([60, 61, 62]);
    const events = await store.events({ cluster });
    expect(events).toMatchObject([
      { kind: 'gpu_xid', severity: 'error', node: 'gpu-node-1', attributes: { xid: '79' } },
    ]);
    const inv = await store.inventory({ cluster });
    expect(inv).toMatchObject([{ kind: 'gpu', entity: 'GPU-1', attributes: { model: 'H100' } }]);
    expect((await store.agents.list(cluster))[0]).toMatchObject({
      agentId: `${cluster}-a1`,
      lastSequence: 1,
    });
    s.call.end();
    expect(await s.finished()).toBeUndefined();
  });

  it('stores nothing twice when the same sequence is replayed, on the same and on a new stream', async () => {
    const { client } = await startServer();
    const cluster = `replay-${engine}`;
    const token = await tokenFor(cluster);
    const batch = {
      sequence: 1,
      series: [def(1)],
      samples: [{ ref: 1, timestampsMs: [now() - 5000, now() - 4000], values: [1, 2] }],
    };
    const s = client.stream(token);
    s.hello({ agentId: `${cluster}-a`, cluster });
    await s.next();
    s.batch(batch);
    expect(ack(await s.next())).toMatchObject({ sequence: 1, duplicate: false });
    s.batch(batch);
    expect(ack(await s.next())).toMatchObject({ sequence: 1, duplicate: true, result: { samplesStored: 0 } });
    s.call.end();
    await s.finished();
    const s2 = client.stream(token);
    s2.hello({ agentId: `${cluster}-a`, cluster });
    expect((await s2.next()).msg).toMatchObject({ welcome: { lastAckedSequence: 1 } });
    s2.batch(batch);
    expect(ack(await s2.next())).toMatchObject({ sequence: 1, duplicate: true });
    s2.call.end();
    const ids = (await store.findSeries({ cluster })).map((x) => x.id);
    const r = await store.sql.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM samples WHERE series_id = ANY($1)',
      [ids],
    );
    expect(Number(r.rows[0]!.n)).toBe(2);
  });

  it('refuses missing and wrong tokens with UNAUTHENTICATED and stores nothing', async () => {
    const { client } = await startServer();
    const before = await countSamples(store);
    for (const t of [undefined, 'not-a-token']) {
      const s = client.stream(t);
      s.hello({ agentId: 'intruder', cluster: 'x' });
      s.batch({ sequence: 1, series: [def(1)], samples: [{ ref: 1, timestampsMs: [now()], values: [1] }] });
      expect((await s.finished())?.code).toBe(status.UNAUTHENTICATED);
    }
    await expect(
      client.push('not-a-token', {
        hello: { agentId: 'intruder', cluster: 'x', node: 'n', version: '', capabilities: [] },
      }),
    ).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    expect(await countSamples(store)).toBe(before);
    expect(await store.findSeries({ cluster: 'x' })).toEqual([]);
    expect(await store.lastSequence('intruder')).toBe(0);
  });

  it('refuses a token of cluster A used for cluster B with PERMISSION_DENIED', async () => {
    const { client } = await startServer();
    const s = client.stream(await tokenFor(`a-${engine}`));
    s.hello({ agentId: 'cross', cluster: `b-${engine}` });
    const err = await s.finished();
    expect(err?.code).toBe(status.PERMISSION_DENIED);
    expect(err?.details).toMatch(/belongs to cluster/);
  });

  it('cuts open streams of a revoked token with UNAUTHENTICATED', async () => {
    const { client, server } = await startServer();
    const cluster = `revoke-${engine}`;
    const { token, info } = await store.enrollmentTokens.create(cluster, 'to revoke');
    const s = client.stream(token);
    s.hello({ agentId: `${cluster}-a`, cluster });
    await s.next();
    await store.enrollmentTokens.revoke(info.id);
    expect(server.revokeToken(info.id)).toBe(1);
    expect((await s.finished())?.code).toBe(status.UNAUTHENTICATED);
    const s2 = client.stream(token);
    s2.hello({ agentId: `${cluster}-a`, cluster });
    expect((await s2.finished())?.code).toBe(status.UNAUTHENTICATED);
  });

  it('answers malformed protobuf bytes with INVALID_ARGUMENT and keeps what was acked', async () => {
    const { client, port } = await startServer();
    const cluster = `garbage-${engine}`;
    const token = await tokenFor(cluster);
    // Batch 1 through a normal client.
    const s = client.stream(token);
    s.hello({ agentId: `${cluster}-a`, cluster });
    await s.next();
    s.batch({ sequence: 1, series: [def(1)], samples: [{ ref: 1, timestampsMs: [now()], values: [1] }] });
    ack(await s.next());
    s.call.end();
    await s.finished();
    // Then a client whose serializer sends garbage bytes on the wire.
    const raw = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
    const call = raw.makeBidiStreamRequest(
      '/aiops.v1.IngestService/Stream',
      (b: Buffer) => b,
      (b: Buffer) => b,
      authMetadata(token),
    );
    const err = await new Promise<ServiceError>((resolve) => {
      call.on('error', resolve);
      call.on('data', () => undefined);
      call.write(Buffer.from([0x12, 0xff, 0xff, 0x03, 0xde, 0xad]));
    });
    raw.close();
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/malformed StreamRequest/);
    expect(await store.lastSequence(`${cluster}-a`)).toBe(1);
  });

  it('refuses a message over max_message_bytes with RESOURCE_EXHAUSTED', async () => {
    const { client } = await startServer({ limits: { maxMessageBytes: 64 * 1024 } });
    const cluster = `big-${engine}`;
    const s = client.stream(await tokenFor(cluster));
    s.hello({ agentId: `${cluster}-a`, cluster });
    await s.next();
    const n = 10_000;
    const t = now();
    s.batch({
      sequence: 1,
      series: [def(1)],
      samples: [
        {
          ref: 1,
          timestampsMs: Array.from({ length: n }, (_, i) => t - i),
          values: new Array<number>(n).fill(1),
        },
      ],
    });
    expect((await s.finished())?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(await store.lastSequence(`${cluster}-a`)).toBe(0);
  });

  it('refuses a batch over max_samples_per_batch with RESOURCE_EXHAUSTED, storing none of it', async () => {
    const { client } = await startServer({ limits: { maxSamplesPerBatch: 100 } });
    const cluster = `many-${engine}`;
    const s = client.stream(await tokenFor(cluster));
    s.hello({ agentId: `${cluster}-a`, cluster });
    await s.next();
    const t = now();
    s.batch({
      sequence: 1,
      series: [def(1)],
      samples: [
        {
          ref: 1,
          timestampsMs: Array.from({ length: 101 }, (_, i) => t - i),
          values: new Array<number>(101).fill(1),
        },
      ],
    });
    const err = await s.finished();
    expect(err?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err?.details).toMatch(/101 samples; max_samples_per_batch is 100/);
    expect(await store.lastSequence(`${cluster}-a`)).toBe(0);
  });

  it('refuses NaN/Inf, too old, future, unknown refs and bad labels per item, and stores the rest', async () => {
    const { client } = await startServer({ limits: { maxLabelsPerSeries: 2, maxLabelValueLength: 32 } });
    const cluster = `items-${engine}`;
    const s = client.stream(await tokenFor(cluster));
    s.hello({ agentId: `${cluster}-a`, cluster });
    await s.next();
    const t = now() - 1000;
    s.batch({
      sequence: 1,
      series: [
        def(1),
        def(2, {
          labels: [
            { name: 'a', value: '1' },
            { name: 'b', value: '2' },
            { name: 'c', value: '3' },
          ],
        }),
        def(3, { labels: [{ name: 'a', value: 'x'.repeat(33) }] }),
        def(4, { labels: [{ name: 'cluster', value: 'spoofed' }] }),
      ],
      samples: [
        {
          ref: 1,
          timestampsMs: [t, t + 1, t + 2, t - 8 * 24 * 3600_000, t + 3600_000],
          values: [1, Number.NaN, Number.NEGATIVE_INFINITY, 4, 5],
        },
        { ref: 2, timestampsMs: [t], values: [1] },
        { ref: 3, timestampsMs: [t], values: [1] },
        { ref: 4, timestampsMs: [t], values: [1] },
        { ref: 77, timestampsMs: [t, t + 1], values: [1, 2] },
        { ref: 1, timestampsMs: [t + 10, t + 11], values: [1] },
      ],
    });
    const a = ack(await s.next());
    expect(a.result!.samplesStored).toBe(1);
    expect(reasons(a)).toEqual({
      REJECT_REASON_TOO_MANY_LABELS: 1,
      REJECT_REASON_LABEL_TOO_LONG: 1,
      REJECT_REASON_INVALID_SERIES: 1,
      REJECT_REASON_NON_FINITE_VALUE: 2,
      REJECT_REASON_TIMESTAMP_TOO_OLD: 1,
      REJECT_REASON_TIMESTAMP_IN_FUTURE: 1,
      REJECT_REASON_UNKNOWN_SERIES_REF: 5,
      REJECT_REASON_MISMATCHED_LENGTHS: 2,
    });
    expect(
      a.result!.rejections.find((r) => r.reason === RejectReason.REJECT_REASON_NON_FINITE_VALUE)!.example,
    ).toBe('ref 1 value NaN');
    const series = await store.findSeries({ cluster });
    expect(series).toHaveLength(1);
    const latest = await store.latest({ cluster });
    expect(latest).toMatchObject([{ value: 1, timestampMs: t }]);
    s.call.end();
  });

  it('refuses series beyond max_series_per_stream and their samples', async () => {
    const { client } = await startServer({ limits: { maxSeriesPerStream: 3 } });
    const cluster = `serieslimit-${engine}`;
    const s = client.stream(await tokenFor(cluster));
    s.hello({ agentId: `${cluster}-a`, cluster });
    await s.next();
    const t = now();
    const refs = [1, 2, 3, 4, 5];
    s.batch({
      sequence: 1,
      series: refs.map((r) => def(r)),
      samples: refs.map((ref) => ({ ref, timestampsMs: [t], values: [ref] })),
    });
    const a = ack(await s.next());
    expect(a.result!.samplesStored).toBe(3);
    expect(reasons(a)).toEqual({ REJECT_REASON_TOO_MANY_SERIES: 2, REJECT_REASON_UNKNOWN_SERIES_REF: 2 });
    expect(await store.findSeries({ cluster })).toHaveLength(3);
    s.call.end();
  });

  it('ends the stream with FAILED_PRECONDITION on an unexplained sequence gap, accepting one explained by dropped_before', async () => {
    const { client } = await startServer();
    const cluster = `gap-${engine}`;
    const s = client.stream(await tokenFor(cluster));
    s.hello({ agentId: `${cluster}-a`, cluster });
    await s.next();
    s.batch({ sequence: 1 });
    s.batch({ sequence: 4, droppedBefore: 2 });
    expect(ack(await s.next()).sequence).toBe(1);
    expect(ack(await s.next()).sequence).toBe(4);
    s.batch({ sequence: 6 });
    const err = await s.finished();
    expect(err?.code).toBe(status.FAILED_PRECONDITION);
    expect(err?.details).toMatch(/sequence gap: batch 6 with dropped_before 0 does not follow 4/);
    expect(await store.lastSequence(`${cluster}-a`)).toBe(4);
  });

  it('ends the stream with RESOURCE_EXHAUSTED when the agent exceeds the window', async () => {
    const { client } = await startServer({ limits: { window: 2 } });
    const cluster = `window-${engine}`;
    const s = client.stream(await tokenFor(cluster));
    s.hello({ agentId: `${cluster}-a`, cluster });
    await s.next();
    const t = now();
    // Big enough batches that three arrive before the first commits.
    for (let seq = 1; seq <= 3; seq++) {
      s.batch({
        sequence: seq,
        series: seq === 1 ? [def(1)] : [],
        samples: [
          {
            ref: 1,
            timestampsMs: Array.from({ length: 20_000 }, (_, i) => t - seq * 20_000 - i),
            values: new Array<number>(20_000).fill(seq),
          },
        ],
      });
    }
    const err = await s.finished(60_000);
    expect(err?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err?.details).toMatch(/window exceeded/);
    expect(await store.lastSequence(`${cluster}-a`)).toBeLessThanOrEqual(2);
  }, 60_000);

  it('ends a stream whose first message is a batch with FAILED_PRECONDITION', async () => {
    const { client } = await startServer();
    const cluster = `order-${engine}`;
    const s = client.stream(await tokenFor(cluster));
    s.batch({ sequence: 1, series: [def(1)], samples: [{ ref: 1, timestampsMs: [now()], values: [1] }] });
    const err = await s.finished();
    expect(err?.code).toBe(status.FAILED_PRECONDITION);
    expect(await store.findSeries({ cluster })).toEqual([]);
  });

  it('drains on stop: batches received are committed and acked, then UNAVAILABLE', async () => {
    const { client, server } = await startServer();
    const cluster = `drain-${engine}`;
    const agentId = `${cluster}-a`;
    const s = client.stream(await tokenFor(cluster));
    s.hello({ agentId, cluster });
    await s.next();
    const t = now();
    for (let seq = 1; seq <= 4; seq++) {
      s.batch({
        sequence: seq,
        series: seq === 1 ? [def(1)] : [],
        samples: [
          {
            ref: 1,
            timestampsMs: Array.from({ length: 5000 }, (_, i) => t - seq * 5000 - i),
            values: new Array<number>(5000).fill(seq),
          },
        ],
      });
    }
    // Stop as soon as the first ack shows batches are flowing.
    ack(await s.next());
    const acked = [1];
    const stopping = server.stop({ timeoutMs: 30_000 });
    let err: ServiceError | undefined;
    for (;;) {
      try {
        acked.push(ack(await s.next(30_000)).sequence);
      } catch (e) {
        err = e as ServiceError;
        break;
      }
    }
    await stopping;
    await server.stop();
    expect(err?.code).toBe(status.UNAVAILABLE);
    expect(acked).toEqual([1, 2, 3, 4]);
    expect(await store.lastSequence(agentId)).toBe(4);
  }, 60_000);

  it('keeps a light agent responsive while another floods (fairness)', async () => {
    const { client, registry } = await startServer({ writer: { maxCommitSamples: 20_000 } });
    const cluster = `fair-${engine}`;
    const token = await tokenFor(cluster);
    const floodSamples = 10_000;
    const flooders = 3;
    const deadline = Date.now() + 6000;
    const t0 = now() - 3600_000;
    let windowSeen = 1;
    // Flooders: each keeps its whole window full of big batches until the deadline.
    const flood = async (k: number) => {
      const s = client.stream(token);
      s.hello({ agentId: `${cluster}-flood-${k}`, cluster });
      const w = await s.next();
      const window = w.msg?.$case === 'welcome' ? w.msg.welcome.window : 1;
      windowSeen = window;
      let seq = 0;
      let acked = 0;
      const send = () => {
        seq++;
        const base = t0 + k * 1e9 + seq * floodSamples;
        s.batch({
          sequence: seq,
          series: seq === 1 ? [def(1)] : [],
          samples: [
            {
              ref: 1,
              timestampsMs: Array.from({ length: floodSamples }, (_, i) => base + i),
              values: new Array<number>(floodSamples).fill(1),
            },
          ],
        });
      };
      for (let i = 0; i < window; i++) send();
      while (Date.now() < deadline) {
        ack(await s.next(30_000));
        acked++;
        send();
      }
      while (acked < seq) {
        ack(await s.next(30_000));
        acked++;
      }
      s.call.end();
      return acked;
    };
    const light = async () => {
      const s = client.stream(token);
      s.hello({ agentId: `${cluster}-light`, cluster });
      await s.next();
      const latencies: number[] = [];
      let seq = 0;
      await new Promise((r) => setTimeout(r, 500));
      while (Date.now() < deadline) {
        seq++;
        const sent = performance.now();
        s.batch({
          sequence: seq,
          series: seq === 1 ? [def(1)] : [],
          samples: [{ ref: 1, timestampsMs: [now() - 1000 + seq], values: [seq] }],
        });
        ack(await s.next(30_000));
        latencies.push(performance.now() - sent);
        await new Promise((r) => setTimeout(r, 50));
      }
      s.call.end();
      return latencies;
    };
    const [latencies, ...floodAcks] = await Promise.all([
      light(),
      ...Array.from({ length: flooders }, (_, k) => flood(k)),
    ]);
    const commit = (await registry.getSingleMetric('aiops_ingest_commit_duration_seconds')!.get()).values;
    const sum = commit.find((v) => (v as { metricName?: string }).metricName?.endsWith('_sum'))!.value;
    const count = commit.find((v) => (v as { metricName?: string }).metricName?.endsWith('_count'))!.value;
    const meanCommitMs = (sum / count) * 1000;
    const sorted = [...latencies].sort((x, y) => x - y);
    const p95 = sorted[Math.floor(sorted.length * 0.95)]!;
    silentLogger.info(
      { engine, floodAcks, lightBatches: latencies.length, p95, max: sorted.at(-1), meanCommitMs },
      'fairness',
    );
    if (process.env.AIOPS_TEST_VERBOSE)
      console.log({
        engine,
        floodAcks,
        lightBatches: latencies.length,
        p95,
        max: sorted.at(-1),
        meanCommitMs,
      });
    expect(floodAcks.every((n) => n >= 3)).toBe(true);
    // The light agent's batch waits for at most the commits already in flight
    // plus its own: a few mean commit times. An unfair writer would make it
    // wait for the flooders' whole backlog (3 flooders x window 8 x 10k
    // samples = 12 commits of 20k); the bound is half of that, so it tells
    // the two apart even when a loaded machine stretches every latency.
    const backlogCommits = (flooders * windowSeen * floodSamples) / 20_000;
    expect(p95).toBeLessThan(Math.max((backlogCommits / 2) * meanCommitMs, 100));
  }, 90_000);

  it('shows no duplicate samples anywhere after all the above', async () => {
    expect(await countDuplicateSamples(store)).toBe(0);
  });
}
