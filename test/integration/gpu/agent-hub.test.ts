import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAgent, type AgentService } from '../../../agent/agent.js';
import { gpuCollectorFactory } from '../../../agent/collectors/gpu/index.js';
import { loadAgentConfig } from '../../../agent/config.js';
import { createIngestServer, type IngestServer } from '../../../hub/ingest/server.js';
import { MemoryStore } from '../../../hub/ingest/testing/memory-store.js';
import { captureDir, installReplayNvidiaSmi } from './replay/install-replay.js';

const logger = pino({ level: process.env.GPU_E2E_LOG ?? 'silent' });
const h100Uuid = 'GPU-00000000-0000-0000-0000-000000000000';

let describeState: (() => string) | undefined;

async function waitFor(check: () => boolean, deadlineMs: number): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end)
      throw new Error(`condition not met in time${describeState ? `: ${describeState()}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * End to end: the real agent pipeline (scheduler → batcher → spool → sender)
 * with the GPU collector on the replay nvidia-smi and a recorded kernel log,
 * streaming over gRPC to the hub's real ingest server (store in memory).
 */
describe('GPU telemetry from agent to hub', () => {
  let dir: string;
  let store: MemoryStore;
  let server: IngestServer;
  let agent: AgentService | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'aiops-gpu-e2e-'));
    store = new MemoryStore();
    server = createIngestServer({ store, logger, registry: new Registry() });
  });
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    await server.stop({ timeoutMs: 2_000 });
    rmSync(dir, { recursive: true, force: true });
  });

  it('streams GPU samples and Xid events from the replayed nvidia-smi and kernel log to the hub', async () => {
    const { token } = await store.enrollmentTokens.create('c1', 'gpu e2e');
    const port = await server.start('127.0.0.1:0');
    const nvidiaSmiPath = installReplayNvidiaSmi(dir, {
      capture: join(captureDir, 'nvge-capture__linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01.txt'),
    });
    const kmsgPath = join(dir, 'kmsg.log');
    copyFileSync(
      new URL('../../fixtures/gpu/kmsg/gpud-dmesg__xid-119-gsp-timeout.log', import.meta.url),
      kmsgPath,
    );
    const config = loadAgentConfig({
      env: {},
      factories: [gpuCollectorFactory],
      overrides: {
        hubAddress: `127.0.0.1:${port}`,
        token,
        cluster: 'c1',
        nodeName: 'gpu-node-1',
        dataDir: join(dir, 'agent'),
        httpAddress: 'off',
        logLevel: process.env.GPU_E2E_LOG ?? 'silent',
        batch: { maxAgeMs: 200 },
        collectors: {
          gpu: {
            intervalMs: 2_000,
            nvidiaSmiPath,
            sampleIntervalMs: 250,
            kmsgPath,
            dcgmUrl: '',
            podResourcesSocket: '',
          },
        },
      },
    });
    agent = await startAgent(config, logger, { factories: [gpuCollectorFactory] });
    describeState = () =>
      `series=${JSON.stringify(store.series.filter((s) => s.metric.includes('power_draw')))} metrics=${new Set(store.series.map((s) => s.metric)).size} samples=${store.samples.length} events=${JSON.stringify(store.eventRows.map((e) => e.kind))} commits=${store.commits}`;

    await waitFor(() => {
      const power = store.series.find((s) => s.metric === 'gpu_power_draw_watts');
      return (
        power !== undefined &&
        store.samples.some((x) => x.seriesId === power.id) &&
        store.eventRows.filter((e) => e.kind === 'gpu_xid').length >= 5
      );
    }, 20_000);

    const power = store.series.find((s) => s.metric === 'gpu_power_draw_watts')!;
    expect(power).toMatchObject({ cluster: 'c1', node: 'gpu-node-1', source: 'gpu', entity: h100Uuid });
    const values = new Set(store.samples.filter((x) => x.seriesId === power.id).map((x) => x.value));
    for (const v of values) expect([69.85, 631.95]).toContain(v);
    const xids = store.eventRows.filter((e) => e.kind === 'gpu_xid');
    expect(xids).toHaveLength(5);
    expect(xids[0]).toMatchObject({ source: 'gpu', entity: 'pci:0000:9b:00' });
    expect(JSON.stringify(xids[0])).toContain('119');
    await waitFor(() => store.inventoryRows.some((i) => JSON.stringify(i).includes(h100Uuid)), 5_000);
    expect(readFileSync(kmsgPath, 'utf8')).toContain('Xid');
  }, 40_000);
});
