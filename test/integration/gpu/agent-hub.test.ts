import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { startAgent, type AgentService } from '../../../agent/agent.js';
import { gpuCollectorFactory } from '../../../agent/collectors/gpu/index.js';
import { loadAgentConfig } from '../../../agent/config.js';
import { createIngestServer, type IngestServer } from '../../../hub/ingest/server.js';
import { openStore } from '../../../hub/store/open-store.js';
import type { Store } from '../../../hub/store/store.js';
import { describeWithComponent, pgMissing, pgUrl } from '../../support/components.js';
import { createTestDatabase } from '../../support/databases.js';
import { expectRecoveryWithinTwoIntervals, liveReplayPid, recoveryAround } from './recovery.js';
import { captureDir, installReplayNvidiaSmi, type ReplaySettings } from './replay/install-replay.js';

const logger = pino({ level: process.env.GPU_E2E_LOG ?? 'silent' });
const h100 = join(captureDir, 'nvge-capture__linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01.txt');
const h100Uuid = 'GPU-00000000-0000-0000-0000-000000000000';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, check: () => Promise<boolean>, deadlineMs: number): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what}: not in time`);
    await sleep(100);
  }
}

/**
 * End to end: the real agent pipeline (scheduler → batcher → spool → sender) with the GPU collector on
 * the replay nvidia-smi and a recorded kernel log, streaming over gRPC to the hub's real ingest server
 * and PostgreSQL store; every assertion reads what the hub stored.
 */
describeWithComponent('PostgreSQL', pgMissing, 'GPU telemetry from agent to hub', () => {
  let drop: () => Promise<void>;
  let store: Store;
  let server: IngestServer;
  let port: number;
  let db: pg.Client;
  let dir: string;
  let agent: AgentService | undefined;

  beforeAll(async () => {
    const created = await createTestDatabase(pgUrl!, 'aiops_gpu_e2e');
    drop = created.drop;
    store = await openStore({ databaseUrl: created.url, dataDir: '', retentionDays: 3650 }, logger);
    server = createIngestServer({ store, logger, registry: new Registry() });
    port = await server.start('127.0.0.1:0');
    db = new pg.Client({ connectionString: created.url });
    await db.connect();
    dir = mkdtempSync(join(tmpdir(), 'aiops-gpu-e2e-'));
  });
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });
  afterAll(async () => {
    await db?.end();
    await server?.stop({ timeoutMs: 2_000 });
    await store?.close();
    await drop?.();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts an agent on node `node` whose GPU collector runs the replay with these settings. */
  async function startGpuAgent(
    node: string,
    replay: ReplaySettings,
    gpu: Record<string, unknown>,
  ): Promise<AgentService> {
    const { token } = await store.enrollmentTokens.create('c1', `gpu e2e ${node}`);
    const nodeDir = join(dir, node);
    const config = loadAgentConfig({
      env: {},
      factories: [gpuCollectorFactory],
      overrides: {
        hubAddress: `127.0.0.1:${port}`,
        token,
        cluster: 'c1',
        nodeName: node,
        dataDir: join(nodeDir, 'agent'),
        httpAddress: 'off',
        logLevel: process.env.GPU_E2E_LOG ?? 'silent',
        batch: { maxAgeMs: 200 },
        collectors: {
          gpu: {
            intervalMs: 1_000,
            nvidiaSmiPath: installReplayNvidiaSmi(mkdtempSync(join(dir, `${node}-bin-`)), replay),
            dcgmUrl: '',
            podResourcesSocket: '',
            kmsgPath: '',
            ...gpu,
          },
        },
      },
    });
    agent = await startAgent(config, logger, { factories: [gpuCollectorFactory] });
    return agent;
  }

  /** Timestamps (ms) of the stored samples of one metric of one node, in order. */
  async function storedTimes(node: string, metric: string): Promise<number[]> {
    const r = await db.query<{ ms: number }>(
      `SELECT extract(epoch FROM s.ts) * 1000 AS ms FROM samples s JOIN series r ON r.id = s.series_id
       WHERE r.node = $1 AND r.metric = $2 ORDER BY s.ts`,
      [node, metric],
    );
    return r.rows.map((row) => Math.round(Number(row.ms)));
  }

  async function storedEvents(node: string, kind: string) {
    const r = await db.query<{ entity: string; message: string; attributes: Record<string, string> }>(
      'SELECT entity, message, attributes FROM events WHERE node = $1 AND kind = $2 ORDER BY ts, id',
      [node, kind],
    );
    return r.rows;
  }

  it('streams GPU samples and Xid events from the replayed nvidia-smi and kernel log to the hub', async () => {
    const kmsgPath = join(dir, 'kmsg.log');
    copyFileSync(
      new URL('../../fixtures/gpu/kmsg/gpud-dmesg__xid-119-gsp-timeout.log', import.meta.url),
      kmsgPath,
    );
    await startGpuAgent('gpu-stream', { capture: h100 }, { sampleIntervalMs: 250, kmsgPath });
    await waitFor(
      'power samples and 5 Xid events at the hub',
      async () =>
        (await storedTimes('gpu-stream', 'gpu_power_draw_watts')).length >= 3 &&
        (await storedEvents('gpu-stream', 'gpu_xid')).length >= 5,
      20_000,
    );
    const power = await db.query<{ entity: string; source: string; cluster: string; value: number }>(
      `SELECT r.entity, r.source, r.cluster, s.value FROM samples s JOIN series r ON r.id = s.series_id
       WHERE r.node = 'gpu-stream' AND r.metric = 'gpu_power_draw_watts'`,
    );
    for (const row of power.rows) {
      expect(row).toMatchObject({ cluster: 'c1', source: 'gpu', entity: h100Uuid });
      // The recorded idle and load readings, nothing else.
      expect([69.85, 631.95]).toContain(row.value);
    }
    const xids = await storedEvents('gpu-stream', 'gpu_xid');
    expect(xids).toHaveLength(5);
    expect(xids[0]).toMatchObject({ entity: 'pci:0000:9b:00' });
    expect(xids[0]?.attributes).toMatchObject({ xid: '119', source: 'kmsg' });
    await waitFor(
      'GPU inventory at the hub',
      async () =>
        (await db.query(`SELECT 1 FROM inventory WHERE node = 'gpu-stream' AND entity = $1`, [h100Uuid])).rows
          .length > 0,
      5_000,
    );
    expect(readFileSync(kmsgPath, 'utf8')).toContain('Xid');
  }, 40_000);

  it.each([
    ['killed', 'normal'],
    ['hung', 'hang'],
  ] as const)(
    'recovers from a %s nvidia-smi within two intervals at a 1 s interval (sample times stored by the hub)',
    async (what, mode) => {
      const node = `gpu-${what}`;
      const stateDir = join(dir, `${node}-state`);
      const intervalMs = 1_000;
      // Only the interval is set: the deadlines are the defaults it derives (3 s longest, 200 ms margin).
      await startGpuAgent(
        node,
        { capture: h100, mode, after: 4, times: 1, stateDir },
        { sampleIntervalMs: intervalMs },
      );
      if (mode === 'normal') {
        await waitFor(
          'four samples before the kill',
          async () => (await storedTimes(node, 'gpu_power_draw_watts')).length >= 4,
          20_000,
        );
        // Killed 100 ms before a line is due, the worst moment: the gap then holds almost a whole interval
        // before the fault. The child's lines come every interval from the last stored one.
        const last = Math.max(...(await storedTimes(node, 'gpu_power_draw_watts')));
        const cycles = Math.max(1, Math.ceil((Date.now() + 50 - (last - 100)) / intervalMs));
        await sleep(last + cycles * intervalMs - 100 - Date.now());
        process.kill(liveReplayPid(stateDir), 'SIGKILL');
      }
      await waitFor(
        'the failure and three samples after it at the hub',
        async () => {
          const r = await db.query<{ ms: number }>(
            `SELECT extract(epoch FROM ts) * 1000 AS ms FROM events WHERE node = $1 AND kind = 'gpu_nvidia_smi_failed'`,
            [node],
          );
          if (r.rows.length === 0) return false;
          const failedMs = Number(r.rows[0]?.ms);
          const times = await storedTimes(node, 'gpu_power_draw_watts');
          return times.filter((t) => t >= failedMs).length >= 3;
        },
        20_000,
      );
      const failed = await storedEvents(node, 'gpu_nvidia_smi_failed');
      expect(failed.map((f) => f.message)).toHaveLength(1);
      expect(failed[0]?.message).toMatch(
        mode === 'hang'
          ? /hung: no line within \d+ ms \(observed cadence \d+ ms \+ margin 200 ms\)/
          : /killed by SIGKILL/,
      );
      const times = await storedTimes(node, 'gpu_power_draw_watts');
      // Stored sample times are the agent's receive times of nvidia-smi's lines, not arrival at the hub:
      // batching and delivery delay none of them. The gap around the fault = detection + restart (the
      // collector's part, which must leave room for a start-up) + the replacement's own start-up.
      const r = recoveryAround(times, stateDir);
      const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
      const detail = `recovery ${JSON.stringify(r)}; gaps ${gaps.join(' ')}; ${failed[0]?.message}`;
      if (process.env.GPU_RECOVERY_REPORT === '1') console.log(`${mode}: ${detail}`);
      expectRecoveryWithinTwoIntervals(r, gaps, intervalMs, detail);
    },
    40_000,
  );
});
