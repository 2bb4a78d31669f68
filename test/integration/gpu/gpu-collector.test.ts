import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultGpuConfig, type GpuCollectorConfig } from '../../../agent/collectors/gpu/config.js';
import { GpuCollector } from '../../../agent/collectors/gpu/gpu-collector.js';
import { gpuCollectorFactory } from '../../../agent/collectors/gpu/index.js';
import {
  startPodResourcesServer,
  type PodResourcesServer,
} from '../../../agent/kubelet/pod-resources-server.js';
import type { Collection, Sample } from '../../../agent/model/telemetry.js';
import { expectRecoveryWithinTwoIntervals, liveReplayPid, recoveryAround } from './recovery.js';
import { captureDir, installReplayNvidiaSmi, xmlDir, type ReplaySettings } from './replay/install-replay.js';

const h100 = join(captureDir, 'nvge-capture__linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01.txt');
const h100Mig = join(captureDir, 'nvge-capture__linux-x86_64__nvidia-h100-mig__590.48.01.txt');
const h100Uuid = 'GPU-00000000-0000-0000-0000-000000000000';
const fixtures = new URL('../../fixtures/gpu/', import.meta.url);
const logger = pino({ level: 'silent' });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const signal = (): AbortSignal => new AbortController().signal;
const MiB = 1024 * 1024;

let dir: string;
let collector: GpuCollector | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'aiops-gpu-'));
});
afterEach(async () => {
  await collector?.stop();
  collector = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** A collector on the replay executable; DCGM, kmsg and the kubelet off unless given. */
async function startCollector(
  replay: ReplaySettings,
  config: Partial<GpuCollectorConfig> = {},
): Promise<GpuCollector> {
  const nvidiaSmiPath = installReplayNvidiaSmi(dir, replay);
  collector = new GpuCollector(
    {
      ...defaultGpuConfig(),
      nvidiaSmiPath,
      sampleIntervalMs: 200,
      hangTimeoutMs: 450,
      dcgmUrl: '',
      kmsgPath: '',
      podResourcesSocket: '',
      ...config,
    },
    { logger, nodeName: 'node-a', now: Date.now },
  );
  await collector.start();
  return collector;
}

function metric(c: Collection, name: string): Sample[] {
  return c.samples.filter((s) => s.series.metric === name);
}

/** Collects until `until` holds or the deadline passes; returns everything collected. */
async function collectUntil(
  c: GpuCollector,
  until: (all: Collection) => boolean,
  deadlineMs = 8_000,
): Promise<Collection> {
  const all: Collection = { samples: [], events: [], inventory: [] };
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    const got = await c.collect(signal());
    all.samples.push(...got.samples);
    all.events.push(...got.events);
    all.inventory.push(...got.inventory);
    if (until(all)) break;
    await sleep(100);
  }
  return all;
}

describe('GPU collector on a machine without a GPU', () => {
  it('reports itself absent and emits nothing with the real default config (/usr/bin/nvidia-smi, :9400, /dev/kmsg, kubelet socket)', async () => {
    const config = gpuCollectorFactory.parseConfig({});
    collector = gpuCollectorFactory.create(config, {
      logger,
      nodeName: 'node-a',
      now: Date.now,
    }) as GpuCollector;
    await collector.start();
    const c = await collector.collect(signal());
    expect(c.samples).toEqual([]);
    expect(c.events).toEqual([]);
    expect(c.inventory).toHaveLength(1);
    expect(c.inventory[0]).toMatchObject({ kind: 'collector', entity: 'gpu', source: 'gpu', absent: true });
    expect(c.inventory[0]?.absentReason).toMatch(
      /nvidia-smi not executable at \/usr\/bin\/nvidia-smi.*dcgm-exporter: absent/,
    );
  });

  it('reports itself absent when nvidia-smi cannot reach the driver', async () => {
    const c = await (await startCollector({ capture: h100, mode: 'no-driver' })).collect(signal());
    expect(c.samples).toEqual([]);
    expect(c.inventory[0]?.absentReason).toMatch(/couldn't communicate with the NVIDIA driver/);
  });
});

describe('GPU collector stop', () => {
  it('aborts a slow nvidia-smi -q -x instead of waiting for it', async () => {
    const nvidiaSmiPath = installReplayNvidiaSmi(dir, {
      capture: h100,
      xml: join(xmlDir, 'telegraf-xml__a100-sxm4-v12.xml'),
      xmlDelayMs: 60_000,
    });
    collector = new GpuCollector(
      { ...defaultGpuConfig(), nvidiaSmiPath, dcgmUrl: '', kmsgPath: '', podResourcesSocket: '' },
      { logger, nodeName: 'node-a', now: Date.now },
    );
    const starting = collector.start();
    await sleep(1_000); // --help-query-gpu done, -q -x running (commandTimeoutMs is 30 s)
    const startedMs = Date.now();
    await collector.stop();
    await starting;
    expect(Date.now() - startedMs).toBeLessThan(2_000);
    // Stopped before the stream started: nothing is running, nothing is reported.
    const c = await collector.collect(signal());
    expect(c.samples).toEqual([]);
  }, 15_000);
});

describe('GPU collector when the driver comes up after the agent', () => {
  it('probes again while nvidia-smi is absent and starts streaming once it works', async () => {
    const c = await startCollector({ capture: h100, mode: 'no-driver' }, { reprobeIntervalMs: 300 });
    expect((await c.collect(signal())).inventory[0]?.absent).toBe(true);
    installReplayNvidiaSmi(dir, { capture: h100 }); // the driver container finished installing
    const all = await collectUntil(c, (a) => metric(a, 'gpu_power_draw_watts').length > 0);
    expect(metric(all, 'gpu_power_draw_watts')[0]?.series.entity).toBe(h100Uuid);
  });
});

describe('GPU collector with the replay nvidia-smi', () => {
  it('streams the recorded H100 readings through one long-running child', async () => {
    const c = await startCollector({ capture: h100 });
    const all = await collectUntil(c, (a) => metric(a, 'gpu_power_draw_watts').length >= 3);
    const power = metric(all, 'gpu_power_draw_watts');
    // Idle and load rows of the capture, alternating: exactly the recorded values.
    expect(new Set(power.map((s) => s.value))).toEqual(new Set([69.85, 631.95]));
    expect(power[0]?.series).toMatchObject({
      source: 'gpu',
      entity: h100Uuid,
      kind: 'gauge',
      labels: { gpu: '0', uuid: h100Uuid, model: 'NVIDIA H100 80GB HBM3' },
    });
    expect(metric(all, 'gpu_memory_total_bytes')[0]?.value).toBe(81559 * 1024 * 1024);
    // One 0/1 series per reason (9) per row: every row has all of them.
    const reasons = metric(all, 'gpu_clock_event_reason_active');
    expect(reasons.length).toBe(9 * power.length);
    expect(reasons.length % 9).toBe(0);
    expect(new Set(reasons.map((r) => r.series.labels['reason'])).size).toBe(9);
    expect(reasons.every((r) => r.value === 0 || r.value === 1)).toBe(true);
    const inventory = all.inventory.find((i) => i.kind === 'gpu');
    expect(inventory).toMatchObject({
      entity: h100Uuid,
      attributes: { index: '0', model: 'NVIDIA H100 80GB HBM3' },
    });
    const self = all.inventory.find((i) => i.kind === 'collector');
    expect(self?.attributes).toMatchObject({
      nvidia_smi: 'present',
      dcgm: 'disabled',
      attribution: 'disabled',
    });
    expect(self?.attributes['inventory_error']).toMatch(/-q -x/);
    expect(all.events.filter((e) => e.kind === 'gpu_nvidia_smi_failed')).toEqual([]);
    expect(metric(all, 'gpu_nvidia_smi_abandoned_children_total').at(-1)?.value).toBe(0);
  });

  it('reads NVLink state and speed from nvidia-smi nvlink -s (H100, 18 links)', async () => {
    const c = await startCollector({ capture: h100 });
    const all = await collectUntil(c, (a) => metric(a, 'gpu_nvlink_link_up').length > 0);
    const up = metric(all, 'gpu_nvlink_link_up');
    expect(up).toHaveLength(18);
    expect(up.every((s) => s.value === 1 && s.series.entity === h100Uuid)).toBe(true);
    expect(metric(all, 'gpu_nvlink_link_speed_bytes_per_second')[0]?.value).toBeCloseTo(26.562e9, 0);
    expect(all.events.filter((e) => e.kind.startsWith('gpu_nvlink'))).toEqual([]);
  });

  it('replicates one recorded GPU as 8 distinct GPUs for load tests', async () => {
    const c = await startCollector({ capture: h100, gpus: 8 });
    const all = await collectUntil(
      c,
      (a) => new Set(metric(a, 'gpu_power_draw_watts').map((s) => s.series.entity)).size >= 8,
    );
    const entities = [...new Set(metric(all, 'gpu_power_draw_watts').map((s) => s.series.entity))].sort();
    expect(entities).toHaveLength(8);
    expect(entities[7]).toBe('GPU-00000000-0000-0000-0000-000000000007');
  });

  it.each([
    ['killed', 'normal'],
    ['crashing', 'crash'],
    ['hung', 'hang'],
  ] as const)(
    'recovers from a %s nvidia-smi within two intervals at the default 1 s interval and deadlines',
    async (_what, mode) => {
      const stateDir = join(dir, 'state');
      const intervalMs = 1_000;
      // The defaults a 1 s interval gets: longest deadline 3 s, adaptive margin 200 ms.
      const config = gpuCollectorFactory.parseConfig({ sampleIntervalMs: intervalMs }) as GpuCollectorConfig;
      const c = await startCollector(
        { capture: h100, mode, after: 4, times: 1, stateDir },
        {
          sampleIntervalMs: intervalMs,
          hangTimeoutMs: config.hangTimeoutMs,
          hangMarginMs: config.hangMarginMs,
        },
      );
      if (mode === 'normal') {
        await sleep(4_500);
        process.kill(liveReplayPid(stateDir), 'SIGKILL');
      }
      const all = await collectUntil(
        c,
        (a) =>
          a.events.some((e) => e.kind === 'gpu_nvidia_smi_failed') &&
          metric(a, 'gpu_power_draw_watts').length >= 7,
        20_000,
      );
      const failed = all.events.filter((e) => e.kind === 'gpu_nvidia_smi_failed');
      expect(failed.map((f) => f.message)).toHaveLength(1);
      expect(failed[0]?.message).toMatch(
        mode === 'hang'
          ? /hung: no line within \d+ ms \(observed cadence \d+ ms \+ margin 200 ms\)/
          : mode === 'crash'
            ? /exited with code 4/
            : /killed by SIGKILL/,
      );
      const times = metric(all, 'gpu_power_draw_watts').map((s) => s.timestampMs);
      // Rows before and after the failure, or the gaps below prove nothing.
      const failedAtMs = failed[0]?.timestampMs as number;
      expect(times.filter((t) => t < failedAtMs).length).toBeGreaterThanOrEqual(3);
      expect(times.filter((t) => t > failedAtMs).length).toBeGreaterThanOrEqual(2);
      // The gap around the fault: detection (at once for an exit; the observed cadence + 200 ms for a
      // hang), the restart (immediate) and the replacement's own start-up to its first line. The first two
      // are the collector's and must leave room for a start-up within two intervals; the start-up is the
      // replay's (a Node process), allowed for beyond that only as far as it was measured.
      const r = recoveryAround(times, stateDir);
      const detail = `recovery ${JSON.stringify(r)}; ${failed[0]?.message}`;
      if (process.env.GPU_RECOVERY_REPORT === '1') console.log(`${mode}: ${detail}`);
      // Every gap, the fault's included, is within two intervals (a slow start-up of the replay: see
      // expectRecoveryWithinTwoIntervals).
      const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
      expectRecoveryWithinTwoIntervals(r, gaps, intervalMs, `gaps ${gaps.join(' ')}; ${detail}`);
      expect(metric(all, 'gpu_nvidia_smi_restarts_total').at(-1)?.value).toBe(1);
    },
    30_000,
  );

  it('restarts a child that prints garbage, and counts the garbage lines', async () => {
    const stateDir = join(dir, 'state');
    const c = await startCollector(
      { capture: h100, mode: 'garbage', after: 2, times: 1, stateDir },
      { maxGarbageLines: 2 },
    );
    const all = await collectUntil(
      c,
      (a) =>
        a.events.some((e) => e.kind === 'gpu_nvidia_smi_failed') &&
        metric(a, 'gpu_power_draw_watts').length >= 4,
    );
    expect(all.events.find((e) => e.kind === 'gpu_nvidia_smi_failed')?.message).toMatch(
      /3 unparsable lines in a row.*Unable to determine the device handle/,
    );
    expect(metric(all, 'gpu_nvidia_smi_garbage_lines_total').at(-1)?.value).toBe(3);
    expect(metric(all, 'gpu_power_draw_watts').length).toBeGreaterThanOrEqual(4);
  });

  it('lists MIG devices from -q -x as their own entities and reports a changed GPU set', async () => {
    // The -q -x recording (A100, MIG) and the stream recording (H100) are different GPUs: to the
    // collector the A100 disappears and the H100 appears, as when a GPU is swapped or falls off the bus.
    const c = await startCollector({
      capture: h100Mig,
      xml: join(xmlDir, 'telegraf-xml__a100-sxm4-v12.xml'),
    });
    const first = await c.collect(signal());
    const migs = first.inventory.filter((i) => i.kind === 'mig_device');
    expect(migs.map((m) => m.entity)).toEqual(
      ['3', '4', '5', '6'].map((gi) => `GPU-513536b6-7d19-9063-b049-1e69664bb298/gi${gi}`),
    );
    expect(migs[0]?.attributes).toMatchObject({
      gpu_instance_id: '3',
      compute_instance_id: '0',
      multiprocessor_count: '14',
    });
    expect(first.events.map((e) => e.kind)).toContain('gpu_persistence_mode_off');
    const all = await collectUntil(c, (a) => a.events.some((e) => e.kind === 'gpu_disappeared'));
    expect(all.events.find((e) => e.kind === 'gpu_appeared')?.entity).toBe(h100Uuid);
    expect(all.events.find((e) => e.kind === 'gpu_disappeared')?.entity).toBe(
      'GPU-513536b6-7d19-9063-b049-1e69664bb298',
    );
    expect(all.events.find((e) => e.kind === 'gpu_appeared')?.attributes).toEqual({ gpu: '0' });
    // The A100 was known from -q -x only: its bus id, no index (-q -x does not print one).
    expect(all.events.find((e) => e.kind === 'gpu_disappeared')?.attributes).toEqual({
      pci_bus_id: '00000000:01:00.0',
    });
    // -q -x still lists the A100 on the re-read the change triggers: it must not flap back, and its MIG
    // devices are gone with it.
    const later = await collectUntil(c, (a) => a.inventory.some((i) => i.kind === 'gpu'), 3_000);
    expect(later.events.filter((e) => e.kind === 'gpu_appeared' || e.kind === 'gpu_disappeared')).toEqual([]);
    expect(later.inventory.filter((i) => i.kind === 'gpu').map((i) => i.entity)).toEqual([h100Uuid]);
    expect(later.inventory.filter((i) => i.kind === 'mig_device')).toEqual([]);
    // MIG mode: utilization.gpu is [N/A] in the recording, so there is no such sample at all.
    expect(metric(all, 'gpu_utilization_ratio')).toEqual([]);
  });

  describe('after a MIG reconfiguration', () => {
    const a100Uuid = 'GPU-513536b6-7d19-9063-b049-1e69664bb298';
    /**
     * The A100 MIG recording relabelled with the UUID of the H100 MIG stream recording, so that -q -x
     * and the stream describe the same GPU; `drop` removes the last MIG devices (instances destroyed).
     */
    function writeMigXml(path: string, drop: number): void {
      let xml = readFileSync(join(xmlDir, 'telegraf-xml__a100-sxm4-v12.xml'), 'utf8').replaceAll(
        a100Uuid,
        h100Uuid,
      );
      for (let i = 0; i < drop; i++) {
        const at = xml.lastIndexOf('<mig_device>');
        xml = xml.slice(0, at) + xml.slice(xml.indexOf('</mig_device>', at) + '</mig_device>'.length);
      }
      writeFileSync(path, xml);
    }
    const migEntities = (c: Collection): string[] =>
      c.inventory.filter((i) => i.kind === 'mig_device').map((i) => i.entity);
    const lastInventory = (a: Collection): Collection => ({
      samples: [],
      events: [],
      inventory: a.inventory.filter((i) => i.observedMs === a.inventory.at(-1)?.observedMs),
    });

    it('emits each MIG device its own -q -x frame-buffer series, once per -q -x read', async () => {
      const xml = join(dir, 'inventory.xml');
      writeMigXml(xml, 0);
      // One value changed in this copy (the second device's used memory, 12 → 345 MiB, free to match) so
      // that a reading landing on the wrong MIG device would show: in the recording all four are equal.
      writeFileSync(
        xml,
        readFileSync(xml, 'utf8').replace(
          /(<gpu_instance_id>4<\/gpu_instance_id>[\s\S]*?<used>)12 MiB(<\/used>\s*<free>)19955 MiB/,
          '$1345 MiB$219622 MiB',
        ),
      );
      const c = await startCollector({ capture: h100Mig, xml }, { inventoryRefreshMs: 1_500 });
      const first = await c.collect(signal());
      const migSeries = (col: Collection) => col.samples.filter((s) => s.series.entity.includes('/gi'));
      const used = migSeries(first).filter((s) => s.series.metric === 'gpu_memory_used_bytes');
      expect(used.map((s) => [s.series.entity, s.value])).toEqual([
        [`${h100Uuid}/gi3`, 12 * MiB],
        [`${h100Uuid}/gi4`, 345 * MiB],
        [`${h100Uuid}/gi5`, 12 * MiB],
        [`${h100Uuid}/gi6`, 12 * MiB],
      ]);
      // Labelled like DCGM's per-MIG series; the profile comes from nvidia-smi -L (device index 1).
      expect(used[1]?.series.labels).toMatchObject({
        uuid: h100Uuid,
        mig_instance: '4',
        mig_profile: '2g.20gb',
      });
      expect(
        migSeries(first)
          .filter((s) => s.series.entity === `${h100Uuid}/gi4`)
          .map((s) => [s.series.metric, s.value / MiB]),
      ).toEqual([
        ['gpu_memory_total_bytes', 19968],
        ['gpu_memory_used_bytes', 345],
        ['gpu_memory_free_bytes', 19622],
        ['gpu_memory_reserved_bytes', 0],
      ]);
      // Once per read: the next collect has none, the periodic re-read brings them again.
      expect(migSeries(await c.collect(signal()))).toEqual([]);
      const later = await collectUntil(c, (a) => migSeries(a).length > 0, 5_000);
      expect(migSeries(later)).toHaveLength(16);
    });

    it('re-reads -q -x every inventoryRefreshMs', async () => {
      const xml = join(dir, 'inventory.xml');
      writeMigXml(xml, 0);
      const c = await startCollector({ capture: h100Mig, xml }, { inventoryRefreshMs: 1_000 });
      expect(migEntities(await c.collect(signal()))).toHaveLength(4);
      writeMigXml(xml, 2);
      const all = await collectUntil(c, (a) => migEntities(lastInventory(a)).length === 2, 5_000);
      expect(migEntities(lastInventory(all))).toEqual([`${h100Uuid}/gi3`, `${h100Uuid}/gi4`]);
      expect(all.events.filter((e) => e.kind === 'gpu_disappeared')).toEqual([]);
    });

    it("re-reads -q -x at once when DCGM's MIG instances change", async () => {
      const page = readFileSync(
        new URL('dcgm/dcgm-exporter-metrics__a100-mig-1g.5gb__nvidia-docs.prom', fixtures),
        'utf8',
      );
      let body = page;
      const server = createServer((_req, res) => res.writeHead(200).end(body));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const dcgmUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
        const xml = join(dir, 'inventory.xml');
        writeMigXml(xml, 0);
        // Periodic re-reads off: only the DCGM change can make the collector look again.
        const c = await startCollector({ capture: h100Mig, xml }, { inventoryRefreshMs: 0, dcgmUrl });
        expect(migEntities(await c.collect(signal()))).toHaveLength(4);
        writeMigXml(xml, 3);
        const quiet = await collectUntil(c, () => false, 1_500);
        expect(migEntities(quiet)).toEqual([]); // not re-read, not re-sent
        body = page
          .split('\n')
          .filter((l) => !l.includes('GPU_I_ID='))
          .join('\n'); // the 1g.5gb instance destroyed
        // The changed DCGM entity set re-sends the inventory at once (still the old MIG tree); the re-read
        // it triggers then sends the new one.
        const all = await collectUntil(c, (a) => migEntities(lastInventory(a)).length === 1, 5_000);
        expect(migEntities(lastInventory(all))).toEqual([`${h100Uuid}/gi3`]);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    });
  });

  describe('with a kubelet', () => {
    let kubelet: PodResourcesServer | undefined;
    afterEach(async () => {
      await kubelet?.stop();
      kubelet = undefined;
    });

    it('labels GPU samples with the pod that holds the GPU (real gRPC server on a unix socket)', async () => {
      const response = JSON.parse(
        readFileSync(new URL('podresources/list-h100-mig.json', fixtures), 'utf8'),
      ) as unknown;
      kubelet = await startPodResourcesServer({ respond: () => response });
      const c = await startCollector({ capture: h100 }, { podResourcesSocket: kubelet.socketPath });
      const all = await collectUntil(c, (a) => metric(a, 'gpu_power_draw_watts').length >= 1);
      expect(metric(all, 'gpu_power_draw_watts')[0]?.series.labels).toMatchObject({
        namespace: 'batch',
        pod: 'full-gpu',
        container: 'job',
        uuid: h100Uuid,
      });
      expect(all.inventory.find((i) => i.kind === 'collector')?.attributes['attribution']).toBe('present');
    });
  });

  describe('with dcgm-exporter', () => {
    let server: Server | undefined;
    afterEach(async () => {
      await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
      server = undefined;
    });

    async function serve(file: string): Promise<string> {
      const page = readFileSync(new URL(`dcgm/${file}`, fixtures));
      server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(page));
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
    }

    it('adds what nvidia-smi lacks (per-MIG profiling, energy) and does not duplicate what it has', async () => {
      const dcgmUrl = await serve('dcgm-exporter-metrics__a100-mig-1g.5gb__nvidia-docs.prom');
      const c = await startCollector({ capture: h100 }, { dcgmUrl });
      const all = await collectUntil(c, (a) => metric(a, 'gpu_power_draw_watts').length >= 1);
      const dcgmGpu = 'GPU-34319582-d595-d1c7-d1d2-179bcfa61660';
      expect(
        metric(all, 'gpu_graphics_engine_active_ratio').some(
          (s) => s.series.entity === `${dcgmGpu}/gi13` && s.series.labels['mig_profile'] === '1g.5gb',
        ),
      ).toBe(true);
      expect(metric(all, 'gpu_energy_joules_total').length).toBeGreaterThan(0);
      // Whole-GPU power comes from nvidia-smi only while its stream is healthy.
      expect(metric(all, 'gpu_power_draw_watts').every((s) => s.series.entity === h100Uuid)).toBe(true);
      expect(all.inventory.find((i) => i.kind === 'collector')?.attributes['dcgm']).toBe('present');
    });

    it('reads everything from DCGM when there is no nvidia-smi', async () => {
      const dcgmUrl = await serve('dcgm-exporter-metrics__a100-mig-1g.5gb__nvidia-docs.prom');
      collector = new GpuCollector(
        {
          ...defaultGpuConfig(),
          nvidiaSmiPath: join(dir, 'missing'),
          dcgmUrl,
          kmsgPath: '',
          podResourcesSocket: '',
        },
        { logger, nodeName: 'n', now: Date.now },
      );
      await collector.start();
      const c = await collector.collect(signal());
      expect(c.inventory.some((i) => i.absent)).toBe(false);
      expect(metric(c, 'gpu_power_draw_watts')[0]?.value).toBe(409.692);
      expect(
        c.inventory.filter((i) => i.kind === 'gpu' || i.kind === 'mig_device').map((i) => [i.kind, i.entity]),
      ).toEqual([
        ['gpu', 'GPU-34319582-d595-d1c7-d1d2-179bcfa61660'],
        ['mig_device', 'GPU-34319582-d595-d1c7-d1d2-179bcfa61660/gi13'],
      ]);
    });
  });

  it('counts Xid events from a recorded kernel log and follows new lines', async () => {
    const kmsgPath = join(dir, 'kmsg.log');
    copyFileSync(new URL('kmsg/gpud-dmesg__xid-119-gsp-timeout.log', fixtures), kmsgPath);
    const c = await startCollector({ capture: h100 }, { kmsgPath });
    const first = await c.collect(signal());
    const xids = first.events.filter((e) => e.kind === 'gpu_xid');
    expect(xids).toHaveLength(5);
    expect(xids[0]).toMatchObject({
      severity: 'critical',
      entity: 'pci:0000:9b:00',
      attributes: { xid: '119', pci_bus_id: '0000:9b:00', source: 'kmsg' },
    });
    expect(metric(first, 'gpu_xid_errors_total')).toMatchObject([
      { value: 5, series: { kind: 'counter', labels: { xid: '119' } } },
    ]);
    appendFileSync(
      kmsgPath,
      '[Sun Feb 23 16:40:00 2025] NVRM: Xid (PCI:0000:9b:00): 79, pid=0, name=x, GPU has fallen off the bus.\n',
    );
    const second = await c.collect(signal());
    expect(second.events.filter((e) => e.kind === 'gpu_xid').map((e) => e.attributes['xid'])).toEqual(['79']);
  });

  it('loses no rows or Xid lines when the scheduler aborts a run', async () => {
    const kmsgPath = join(dir, 'kmsg.log');
    copyFileSync(new URL('kmsg/gpud-dmesg__xid-119-gsp-timeout.log', fixtures), kmsgPath);
    const c = await startCollector({ capture: h100 }, { kmsgPath });
    await sleep(1_500);
    const aborted = new AbortController();
    aborted.abort(new Error('collector gpu timed out'));
    await expect(c.collect(aborted.signal)).rejects.toThrow(/timed out/);
    const next = await c.collect(signal());
    expect(next.events.filter((e) => e.kind === 'gpu_xid')).toHaveLength(5);
    expect(metric(next, 'gpu_power_draw_watts').length).toBeGreaterThanOrEqual(1);
  });

  it('reports an unreadable kernel log as an absent event source, not a failure', async () => {
    const c = await startCollector({ capture: h100 }, { kmsgPath: join(dir, 'nope', 'kmsg') });
    const got = await c.collect(signal());
    expect(got.inventory.find((i) => i.kind === 'collector')?.attributes['xid_source']).toMatch(
      /^absent: .*not readable \(ENOENT\)/,
    );
  });
});
