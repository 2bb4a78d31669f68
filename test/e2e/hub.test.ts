import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../../hub/build-hub.js';
import { loadHubConfig } from '../../hub/config.js';
import { createLogger } from '../../hub/logging.js';

/**
 * The whole hub as `npm start` runs it (embedded PGlite, gRPC ingest, REST
 * API), driven from outside: a third-party style gRPC client loaded from the
 * .proto at run time pushes a batch, and the REST API serves it back.
 */
describe('hub end to end (embedded store)', () => {
  let hub: Hub;
  let dir: string;
  let enrollment: string;
  let pushClient: grpc.Client & Record<string, (...args: unknown[]) => unknown>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aiops-hub-e2e-'));
    const config = loadHubConfig({
      AIOPS_DATA_DIR: join(dir, 'hub'),
      AIOPS_HTTP_ADDRESS: '127.0.0.1:0',
      AIOPS_GRPC_ADDRESS: '127.0.0.1:0',
      AIOPS_LOG_LEVEL: 'silent',
    });
    hub = await startHub(config, createLogger({ level: 'silent' }));
    enrollment = (await hub.store.enrollmentTokens.create('e2e', 'test')).token;

    const definition = protoLoader.loadSync(join(import.meta.dirname, '../../proto/aiops/v1/ingest.proto'), {
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: true,
    });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      aiops: { v1: { IngestService: grpc.ServiceClientConstructor } };
    };
    pushClient = new pkg.aiops.v1.IngestService(
      hub.grpcAddress,
      grpc.credentials.createInsecure(),
    ) as unknown as typeof pushClient;
  }, 120_000);

  afterAll(async () => {
    pushClient?.close();
    await hub?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** GET with the admin token, or with `auth.token` (none when it is undefined). */
  const api = (path: string, auth: { token?: string } = { token: hub.adminToken }): Promise<Response> =>
    fetch(`${hub.httpUrl}${path}`, { headers: auth.token ? { authorization: `Bearer ${auth.token}` } : {} });

  const push = (token: string, request: unknown): Promise<{ acked_sequence: number; duplicate: boolean }> =>
    new Promise((resolve, reject) => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${token}`);
      (pushClient.Push as (r: unknown, m: grpc.Metadata, cb: (e: Error | null, r: never) => void) => void)(
        request,
        md,
        (err, res) => (err ? reject(err) : resolve(res)),
      );
    });

  const now = Date.now();
  const batch = (sequence: number) => ({
    hello: {
      agent_id: 'third-party-1',
      cluster: 'e2e',
      node: 'node-a',
      version: 'tp/1',
      capabilities: ['gpu'],
    },
    batch: {
      sequence,
      series: [
        {
          ref: 1,
          metric: 'gpu_temperature_celsius',
          source: 'gpu',
          entity: 'GPU-abc',
          labels: [{ name: 'gpu', value: '0' }],
          type: 'METRIC_TYPE_GAUGE',
        },
      ],
      samples: [{ ref: 1, timestamps_ms: [now - 2000, now - 1000], values: [61, 63.5] }],
      events: [
        {
          timestamp_ms: now - 1500,
          kind: 'gpu_xid',
          severity: 'SEVERITY_ERROR',
          source: 'gpu',
          entity: 'GPU-abc',
          message: 'Xid 79',
          attributes: [{ name: 'xid', value: '79' }],
        },
      ],
    },
  });

  it('stores a pushed batch and serves it through the API', async () => {
    const res = await push(enrollment, batch(1));
    expect(res.acked_sequence).toBe(1);
    expect(res.duplicate).toBe(false);

    const latest = (await (
      await api('/api/v1/latest?cluster=e2e&metric=gpu_temperature_celsius')
    ).json()) as {
      values: { value: number; series: { entity: string; labels: Record<string, string> } }[];
    };
    expect(latest.values).toHaveLength(1);
    expect(latest.values[0]).toMatchObject({
      value: 63.5,
      series: { entity: 'GPU-abc', labels: { gpu: '0' } },
    });

    const events = (await (await api('/api/v1/events?cluster=e2e&kind=gpu_xid')).json()) as {
      events: { message: string; severity: string }[];
    };
    expect(events.events).toEqual([expect.objectContaining({ message: 'Xid 79', severity: 'error' })]);
  });

  it('stores nothing twice when the same sequence is pushed again', async () => {
    const res = await push(enrollment, batch(1));
    expect(res.duplicate).toBe(true);
    const range = (await (
      await api(
        `/api/v1/query_range?cluster=e2e&metric=gpu_temperature_celsius&start=${now - 60_000}&end=${now}&step=1s&agg=avg`,
      )
    ).json()) as { series: { points: unknown[] }[] };
    expect(range.series[0]!.points).toHaveLength(2);
  });

  it('stores nothing for a wrong token', async () => {
    await expect(
      push('aiops_et_wrong', { ...batch(2), hello: { ...batch(2).hello, agent_id: 'intruder' } }),
    ).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
    const agents = (await (await api('/api/v1/agents?cluster=e2e')).json()) as {
      agents: { agentId: string }[];
    };
    expect(agents.agents.map((a) => a.agentId)).not.toContain('intruder');
    // The refusal is in the audit log (written in the background), without the token.
    let entries: { action: string; outcome: string; reason?: string }[] = [];
    for (let i = 0; i < 50 && entries.length === 0; i++) {
      const res = (await (await api('/api/v1/audit?outcome=unauthenticated')).json()) as {
        entries: typeof entries;
      };
      entries = res.entries.filter((e) => e.action === 'ingest push');
      if (entries.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(entries[0]).toMatchObject({ outcome: 'unauthenticated', reason: 'invalid or revoked token' });
    expect(JSON.stringify(entries)).not.toContain('aiops_et_wrong');
  });

  it('answers fleet questions: throttling GPUs, Xid, PTP holdover, VF attribution, agents', async () => {
    const t = Date.now() - 500;
    const series = (
      ref: number,
      metric: string,
      source: string,
      entity: string,
      labels: Record<string, string> = {},
    ) => ({
      ref,
      metric,
      source,
      entity,
      labels: Object.entries(labels).map(([name, value]) => ({ name, value })),
      type: metric.endsWith('_total') ? 'METRIC_TYPE_COUNTER' : 'METRIC_TYPE_GAUGE',
    });
    const fact = (source: string, entity: string, kind: string, attributes: Record<string, string>) => ({
      observed_ms: t,
      source,
      entity,
      kind,
      attributes: Object.entries(attributes).map(([name, value]) => ({ name, value })),
    });
    const res = await push(enrollment, {
      hello: {
        agent_id: 'fleet-node-b',
        cluster: 'e2e',
        node: 'node-b',
        version: 'tp/1',
        capabilities: ['gpu', 'ptp', 'sriov'],
      },
      batch: {
        sequence: 1,
        series: [
          series(1, 'gpu_clock_event_reason_active', 'gpu', 'GPU-hot', { reason: 'hw_thermal_slowdown' }),
          series(2, 'gpu_clock_event_reason_active', 'gpu', 'GPU-cool', { reason: 'hw_thermal_slowdown' }),
          series(3, 'gpu_clock_event_reason_active', 'gpu', 'GPU-cool', { reason: 'gpu_idle' }),
          series(4, 'gpu_temperature_celsius', 'gpu', 'GPU-hot', {
            namespace: 'ml',
            pod: 'trainer-0',
            container: 'main',
          }),
          series(5, 'ptp_clock_state', 'ptp', 'aabbcc.fffe.000001'),
          series(6, 'sriov_vf_rx_bytes_total', 'sriov', '0000:37:02.0', {
            namespace: 'ran',
            pod: 'du-0',
            container: 'l1',
          }),
          series(7, 'agent_collector_up', 'agent', '', { collector: 'gpu' }),
          series(8, 'agent_spool_pending_records', 'agent', ''),
        ],
        samples: [
          { ref: 1, timestamps_ms: [t], values: [1] },
          { ref: 2, timestamps_ms: [t], values: [0] },
          { ref: 3, timestamps_ms: [t], values: [1] },
          { ref: 4, timestamps_ms: [t], values: [91] },
          { ref: 5, timestamps_ms: [t], values: [2] },
          { ref: 6, timestamps_ms: [t], values: [123456] },
          { ref: 7, timestamps_ms: [t], values: [1] },
          { ref: 8, timestamps_ms: [t], values: [12] },
        ],
        events: [
          {
            timestamp_ms: t,
            kind: 'gpu_xid',
            severity: 'SEVERITY_CRITICAL',
            source: 'gpu',
            entity: 'GPU-cool',
            message: 'Xid 79: GPU has fallen off the bus',
            attributes: [{ name: 'xid', value: '79' }],
          },
        ],
        inventory: [
          fact('gpu', 'GPU-hot', 'gpu', { model: 'NVIDIA H100 80GB HBM3', index: '0' }),
          fact('gpu', 'GPU-cool', 'gpu', { model: 'NVIDIA H100 80GB HBM3', index: '1' }),
          fact('ptp', 'aabbcc.fffe.000001', 'ptp_clock', { uds: '/var/run/ptp4l' }),
          fact('sriov', '0000:37:02.0', 'nic_vf', { pf: 'ens2f0', vf: '0' }),
        ],
      },
    });
    expect(res.acked_sequence).toBe(1);

    const throttling = (await (await api('/api/v1/fleet/gpus?cluster=e2e&throttling=true')).json()) as {
      gpus: { uuid: string; throttleReasons: string[]; temperatureCelsius: number; pod: { pod: string } }[];
    };
    expect(throttling.gpus.map((g) => g.uuid)).toEqual(['GPU-hot']);
    expect(throttling.gpus[0]).toMatchObject({
      throttleReasons: ['hw_thermal_slowdown'],
      temperatureCelsius: 91,
      pod: { pod: 'trainer-0' },
    });

    const xid = (await (await api('/api/v1/fleet/gpus?cluster=e2e&xid_within=1h')).json()) as {
      gpus: { uuid: string; xidCount: number; lastXid: number }[];
    };
    expect(xid.gpus).toEqual([expect.objectContaining({ uuid: 'GPU-cool', xidCount: 1, lastXid: 79 })]);

    const paged = (await (await api('/api/v1/fleet/gpus?cluster=e2e&limit=1')).json()) as {
      gpus: { uuid: string }[];
      nextCursor: string;
    };
    expect(paged.gpus.map((g) => g.uuid)).toEqual(['GPU-cool']);
    const second = (await (
      await api(`/api/v1/fleet/gpus?cluster=e2e&limit=1&cursor=${paged.nextCursor}`)
    ).json()) as { gpus: { uuid: string }[]; nextCursor: string | null };
    expect(second.gpus.map((g) => g.uuid)).toEqual(['GPU-hot']);
    expect(second.nextCursor).toBeNull();

    const holdover = (await (await api('/api/v1/fleet/ptp?cluster=e2e&clock_state=HOLDOVER')).json()) as {
      ptp: { entity: string; clockState: string }[];
    };
    expect(holdover.ptp).toEqual([
      expect.objectContaining({ entity: 'aabbcc.fffe.000001', clockState: 'HOLDOVER' }),
    ]);

    const vfs = (await (await api('/api/v1/fleet/sriov?cluster=e2e&kind=nic_vf')).json()) as {
      devices: {
        pciAddress: string;
        counters: Record<string, number>;
        pod: { namespace: string; pod: string };
      }[];
    };
    expect(vfs.devices).toEqual([
      expect.objectContaining({
        pciAddress: '0000:37:02.0',
        counters: { vf_rx_bytes_total: 123456 },
        pod: { namespace: 'ran', pod: 'du-0', container: 'l1' },
      }),
    ]);

    const nodes = (await (await api('/api/v1/fleet/nodes?cluster=e2e')).json()) as {
      nodes: { agentId: string; collectorsUp: Record<string, boolean> }[];
    };
    expect(nodes.nodes).toContainEqual(
      expect.objectContaining({
        agentId: 'fleet-node-b',
        collectorsUp: { gpu: true },
        spoolPendingRecords: 12,
        spoolBytes: null,
      }),
    );

    const badCursor = await api('/api/v1/fleet/gpus?cluster=e2e&cursor=bogus');
    expect(badCursor.status).toBe(400);
  });

  it('answers no API data route without a valid credential, with problem+json', async () => {
    const openapi = (await (await api('/api/v1/openapi.json', {})).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const dataPaths = Object.keys(openapi.paths).filter((p) => p.startsWith('/api/v1/') && !p.includes('{'));
    expect(dataPaths.length).toBeGreaterThanOrEqual(6);
    for (const path of dataPaths) {
      if (!openapi.paths[path]!.get) continue;
      for (const token of [undefined, 'not-the-token']) {
        const res = await api(path, { token });
        expect(res.status, `${path} with ${token ?? 'no token'}`).toBe(401);
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(((await res.json()) as { code: string }).code).toBe('unauthenticated');
      }
    }
  });

  it('rejects bad query parameters with a problem+json body naming the problem', async () => {
    const res = await api('/api/v1/query_range?cluster=e2e&step=soon');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      code: 'invalid_input',
      detail: expect.stringContaining('step'),
    });
    const bad = await api('/api/v1/series?cluster=e2e&match=%7Bbroken');
    expect(bad.status).toBe(400);
    const unknown = await api('/api/v1/nope');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/problem\+json/);
  });

  it('serves health, readiness and an OpenAPI 3.1 document without credentials', async () => {
    expect((await api('/healthz', {})).status).toBe(200);
    expect(await (await api('/readyz', {})).json()).toEqual({ status: 'ready', store: 'pglite' });
    const doc = (await (await api('/api/v1/openapi.json', {})).json()) as { openapi: string };
    expect(doc.openapi).toBe('3.1.0');
  });

  // Last in this file: it uses up this client address's failure budget.
  it('answers 429 to an address that keeps failing authentication, without checking its credentials', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 70; i++)
      statuses.push((await api('/api/v1/series', { token: `aiok_guess${i}` })).status);
    // Earlier tests in this file spent part of the budget of 60 failures a minute.
    const first429 = statuses.indexOf(429);
    expect(first429).toBeGreaterThan(0);
    expect(statuses.slice(0, first429).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(first429).every((s) => s === 429)).toBe(true);
    // Even the right credential waits for the window: the address is throttled, not the key.
    expect((await api('/api/v1/series')).status).toBe(429);
  });
});
