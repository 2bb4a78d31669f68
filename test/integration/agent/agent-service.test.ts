import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startAgent, type AgentService } from '../../../agent/agent.js';
import { hostCollectorFactory } from '../../../agent/collectors/host/index.js';
import { loadAgentConfig } from '../../../agent/config.js';
import { createLogger } from '../../../agent/logging.js';
import { createIngestServer, type IngestServer } from '../../../hub/ingest/server.js';
import { openStore } from '../../../hub/store/open-store.js';
import type { Store } from '../../../hub/store/store.js';
import { describeWithComponent, pgMissing, pgUrl } from '../../support/components.js';
import { createTestDatabase, scrapeMetric, waitFor } from './harness.js';

/** The in-process agent (what the hub's all-in-one mode starts) against the real ingest server and store. */
describeWithComponent('PostgreSQL', pgMissing, 'startAgent with the host collector', () => {
  let drop: () => Promise<void>;
  let store: Store;
  let server: IngestServer;
  let port: number;
  let db: pg.Client;
  const dirs: string[] = [];

  beforeAll(async () => {
    const created = await createTestDatabase(pgUrl!);
    drop = created.drop;
    store = await openStore(
      { databaseUrl: created.url, dataDir: '', retentionDays: 3650 },
      pino({ level: 'silent' }),
    );
    server = createIngestServer({ store, logger: pino({ level: 'silent' }), registry: new Registry() });
    port = await server.start('127.0.0.1:0');
    db = new pg.Client({ connectionString: created.url });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await server?.stop({ timeoutMs: 2000 });
    await store?.close();
    await drop?.();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function agentConfig(
    cluster: string,
    token: string,
    opts: { hubPort?: number; maxAgeMs?: number; intervalMs?: number } = {},
  ) {
    const dir = mkdtempSync(join(tmpdir(), 'aiops-agent-svc-'));
    dirs.push(dir);
    return loadAgentConfig({
      env: {},
      factories: [hostCollectorFactory],
      overrides: {
        hubAddress: `127.0.0.1:${opts.hubPort ?? port}`,
        token,
        cluster,
        nodeName: `node-${cluster}`,
        dataDir: join(dir, 'agent'),
        httpAddress: '127.0.0.1:0',
        batch: { maxAgeMs: opts.maxAgeMs ?? 100 },
        sender: { permanentRetryMs: 60_000, backoffInitialMs: 100 },
        collectors: { host: { intervalMs: opts.intervalMs ?? 500 } },
      },
    });
  }

  it("delivers this machine's host metrics and the collector's health to the hub within seconds", async () => {
    const { token } = await store.enrollmentTokens.create('svc-ok', 'test');
    const agent = await startAgent(agentConfig('svc-ok', token), pino({ level: 'silent' }), {
      factories: [hostCollectorFactory],
    });
    try {
      const metrics = await waitFor(
        'host metrics stored',
        async () => {
          const r = await db.query<{ metric: string }>(
            `SELECT DISTINCT x.metric FROM samples s JOIN series x ON x.id = s.series_id WHERE x.cluster = 'svc-ok'`,
          );
          const names = r.rows.map((row) => row.metric);
          return names.includes('host_memory_total_bytes') && names.includes('agent_collector_up')
            ? names
            : undefined;
        },
        10_000,
      );
      expect(metrics).toContain('host_cpu_seconds_total');
      const inv = await waitFor(
        'host inventory stored',
        async () => {
          const r = await db.query(`SELECT kind FROM inventory WHERE cluster = 'svc-ok' AND source = 'host'`);
          return r.rows.length > 0 ? r.rows : undefined;
        },
        10_000,
      );
      expect(inv).toEqual([{ kind: 'host' }]);
      const health = await (await fetch(`http://127.0.0.1:${agent.httpPort}/healthz`)).json();
      expect(health).toMatchObject({
        status: 'ok',
        sender: { state: 'streaming' },
        collectors: [{ name: 'host', state: 'ok' }],
      });
      expect((await fetch(`http://127.0.0.1:${agent.httpPort}/readyz`)).status).toBe(200);
      expect(await scrapeMetric(agent.httpPort!, 'agent_spool_acked_sequence')).toBeGreaterThan(0);
    } finally {
      await agent.stop();
      await agent.stop(); // safe twice
    }
  });

  it('logs a bad token once, counts it, and does not retry in a loop', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    const agent: AgentService = await startAgent(
      agentConfig('svc-bad', 'not-a-valid-token'),
      createLogger({ level: 'info', destination: sink }),
      {
        factories: [hostCollectorFactory],
      },
    );
    try {
      await waitFor(
        'rejection counted',
        async () =>
          (await scrapeMetric(agent.httpPort!, 'agent_sender_permanent_errors_total')) >= 1
            ? true
            : undefined,
        10_000,
      );
      await new Promise((r) => setTimeout(r, 1500));
      expect(await scrapeMetric(agent.httpPort!, 'agent_sender_permanent_errors_total')).toBe(1);
      expect(await scrapeMetric(agent.httpPort!, 'agent_sender_reconnects_total')).toBe(0);
      const rejected = lines.filter((l) => l.includes('hub rejected the agent permanently'));
      expect(rejected).toHaveLength(1);
      expect(rejected[0]).toContain('UNAUTHENTICATED');
      expect(lines.join('\n')).not.toContain('not-a-valid-token');
      const health = await (await fetch(`http://127.0.0.1:${agent.httpPort}/healthz`)).json();
      expect(health).toMatchObject({ sender: { state: 'rejected' } });
      // Still collecting into the spool meanwhile.
      expect(await scrapeMetric(agent.httpPort!, 'agent_spool_records')).toBeGreaterThan(0);
    } finally {
      await agent.stop();
    }
  });

  /** A second ingest server over the same store, with its own limits or collector configuration. */
  async function otherHub(options: Partial<Parameters<typeof createIngestServer>[0]>) {
    const registry = new Registry();
    const hub = createIngestServer({ store, logger: pino({ level: 'silent' }), registry, ...options });
    return { hub, registry, port: await hub.start('127.0.0.1:0') };
  }

  it("sizes its batches by the hub's Welcome limits: nothing refused, everything stored", async () => {
    const { hub, registry, port: hubPort } = await otherHub({ limits: { maxSamplesPerBatch: 20 } });
    const { token } = await store.enrollmentTokens.create('svc-limits', 'test');
    // One host run is well over 20 samples; the first flush (2 s) comes after Welcome.
    const agent = await startAgent(
      agentConfig('svc-limits', token, { hubPort, maxAgeMs: 2000 }),
      pino({ level: 'silent' }),
      { factories: [hostCollectorFactory] },
    );
    try {
      await waitFor(
        'ten batches acked',
        async () =>
          (await scrapeMetric(agent.httpPort!, 'agent_spool_acked_sequence')) >= 10 ? true : undefined,
        30_000,
      );
      const collected = await scrapeMetric(
        agent.httpPort!,
        'agent_samples_collected_total{collector="host"}',
      );
      expect(collected).toBeGreaterThan(20);
      expect(await scrapeMetric(agent.httpPort!, 'agent_sender_reconnects_total')).toBe(0);
      expect(await scrapeMetric(agent.httpPort!, 'agent_sender_dead_lettered_samples_total')).toBe(0);
      // The hub saw no stream errors and only batches within its limit.
      const hubMetrics = await registry.getMetricsAsJSON();
      const errors = hubMetrics.find((m) => m.name.includes('stream_errors'));
      expect(errors?.values.reduce((n, v) => n + v.value, 0) ?? 0).toBe(0);
      const r = await db.query<{ n: string }>(
        `SELECT count(*) AS n FROM samples s JOIN series x ON x.id = s.series_id WHERE x.cluster = 'svc-limits'`,
      );
      expect(Number(r.rows[0]!.n)).toBeGreaterThan(20 * 9);
    } finally {
      await agent.stop();
      await hub.stop({ timeoutMs: 2000 });
    }
  });

  it('applies the collector settings the hub pushes (Welcome and later), reports what it cannot apply', async () => {
    const { hub, port: hubPort } = await otherHub({
      collectors: [
        { name: 'host', enabled: true, intervalMs: 200 },
        { name: 'nope', enabled: true, intervalMs: 1000 },
      ],
    });
    const { token } = await store.enrollmentTokens.create('svc-config', 'test');
    const agent = await startAgent(
      agentConfig('svc-config', token, { hubPort, intervalMs: 60_000 }),
      pino({ level: 'silent' }),
      { factories: [hostCollectorFactory] },
    );
    const health = async () =>
      (await (await fetch(`http://127.0.0.1:${agent.httpPort}/healthz`)).json()) as {
        collectors: { name: string; state: string; intervalMs: number; runs: number }[];
      };
    try {
      // Locally every 60 s; the hub says 200 ms.
      await waitFor(
        'hub interval applied',
        async () => ((await health()).collectors[0]!.runs >= 5 ? true : undefined),
        10_000,
      );
      expect((await health()).collectors[0]).toMatchObject({ name: 'host', intervalMs: 200 });
      expect(await scrapeMetric(agent.httpPort!, 'agent_hub_config_rejected_total')).toBe(1);

      hub.setCollectors([{ name: 'host', enabled: false, intervalMs: 0 }]);
      await waitFor(
        'disabled',
        async () => ((await health()).collectors[0]!.state === 'disabled' ? true : undefined),
        10_000,
      );
      const runs = (await health()).collectors[0]!.runs;
      await new Promise((r) => setTimeout(r, 800));
      expect((await health()).collectors[0]!.runs).toBeLessThanOrEqual(runs + 1);

      // An empty list: back to the local settings.
      hub.setCollectors([]);
      await waitFor(
        'local settings again',
        async () => {
          const c = (await health()).collectors[0]!;
          return c.state === 'ok' && c.intervalMs === 60_000 ? true : undefined;
        },
        10_000,
      );
      // The unknown collector was reported once, not again on later pushes.
      expect(await scrapeMetric(agent.httpPort!, 'agent_hub_config_rejected_total')).toBe(1);
    } finally {
      await agent.stop();
      await hub.stop({ timeoutMs: 2000 });
    }
  });
});
