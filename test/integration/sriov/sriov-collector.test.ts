import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Collector } from '../../../agent/collectors/collector.js';
import { sriovCollectorFactory, type SriovCollectorConfig } from '../../../agent/collectors/sriov/index.js';
import {
  startPodResourcesServer,
  type PodResourcesServer,
} from '../../../agent/kubelet/pod-resources-server.js';
import type { Collection, Sample } from '../../../agent/model/telemetry.js';

/**
 * The SR-IOV collector over the recorded sysfs tree and `ip` outputs in
 * test/fixtures/sriov (derived from real nodes, see SOURCES.md), with a real
 * gRPC PodResources server. Scenarios that need change over time (numVFs,
 * link state, drops, driver stats) run on a temp copy whose files the test edits.
 */
const fixtures = join(import.meta.dirname, '../../fixtures/sriov');
const logger = pino({ level: 'silent' });

let work: string;
let clockMs = 1_700_000_000_000;
const collectors: Collector[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'aiops-sriov-'));
});
afterEach(async () => {
  for (const c of collectors.splice(0)) await c.stop();
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A private copy of the recorded tree and ip replay. */
async function copyFixtures(name: string): Promise<{ sysfs: string; ipDir: string }> {
  const dir = join(work, name);
  await cp(join(fixtures, 'sysfs'), join(dir, 'sysfs'), { recursive: true, verbatimSymlinks: true });
  await cp(join(fixtures, 'ip'), join(dir, 'ip'), { recursive: true });
  return { sysfs: join(dir, 'sysfs'), ipDir: join(dir, 'ip') };
}

async function startCollector(overrides: Partial<SriovCollectorConfig>): Promise<Collector> {
  const config = sriovCollectorFactory.parseConfig({
    sysfsRoot: join(fixtures, 'sysfs'),
    ipPath: join(fixtures, 'ip', 'ip'),
    podResourcesSocket: '',
    ...overrides,
  });
  const collector = sriovCollectorFactory.create(config, { logger, nodeName: 'storm5', now: () => clockMs });
  collectors.push(collector);
  await collector.start();
  return collector;
}

const collect = (c: Collector): Promise<Collection> => c.collect(AbortSignal.timeout(10_000));
const find = (out: Collection, metric: string, entity: string): Sample | undefined =>
  out.samples.find((s) => s.series.metric === metric && s.series.entity === entity);

describe('SR-IOV collector over the recorded tree', () => {
  it('reports every PF with its recorded inventory and nothing it cannot know', async () => {
    const out = await collect(await startCollector({}));
    const pfs = out.inventory.filter((i) => i.kind === 'nic_pf');
    expect(pfs.map((p) => [p.entity, p.attributes.name])).toEqual([
      ['0000:01:00.0', 'eno1'],
      ['0000:01:00.1', 'eno2'],
      ['0000:01:00.2', 'eno3'],
      ['0000:01:00.3', 'eno4'],
      ['0000:37:00.0', 'ens2f0'],
      ['0000:84:00.0', 'enp132s0f0'],
      ['0000:84:00.1', 'enp132s0f1'],
    ]);
    expect(pfs[3]?.attributes).toEqual({
      pci_address: '0000:01:00.3',
      name: 'eno4',
      driver: 'igb',
      vendor: '0x8086',
      device: '0x1521',
      total_vfs: '7',
      num_vfs: '7',
      mtu_bytes: '1500',
      speed_mbps: '1000',
      mac: '24:6e:96:5a:64:67',
    });
    expect(find(out, 'sriov_pf_total_vfs', '0000:84:00.0')?.value).toBe(63);
    expect(find(out, 'sriov_pf_link_speed_bits_per_second', '0000:84:00.0')?.value).toBe(10e9);
    // ens2f0's recording shows 16 VFs but not the PF's sriov_totalvfs or driver: both stay absent.
    expect(find(out, 'sriov_pf_num_vfs', '0000:37:00.0')?.value).toBe(16);
    expect(find(out, 'sriov_pf_link_up', '0000:37:00.0')?.value).toBe(1);
    expect(find(out, 'sriov_pf_link_up', '0000:01:00.3')).toBeUndefined();
    expect(find(out, 'sriov_pf_total_vfs', '0000:37:00.0')).toBeUndefined();
    expect(pfs[4]?.attributes.driver).toBeUndefined();
    expect(out.samples.some((s) => s.series.metric.includes('numa'))).toBe(false);
  });

  it('lists the vfio-bound VFs of eno4 from sysfs and the 16 VFs of ens2f0 with their recorded counters', async () => {
    const out = await collect(await startCollector({}));
    const vfs = out.inventory.filter((i) => i.kind === 'nic_vf');
    const eno4 = vfs.filter((v) => v.attributes.pf === 'eno4');
    expect(eno4.map((v) => v.entity)).toEqual([
      '0000:01:10.3',
      '0000:01:10.7',
      '0000:01:11.3',
      '0000:01:11.7',
      '0000:01:12.3',
      '0000:01:12.7',
      '0000:01:13.3',
    ]);
    expect(eno4.every((v) => v.attributes.driver === 'vfio-pci')).toBe(true);
    const ens2f0 = vfs.filter((v) => v.attributes.pf === 'ens2f0');
    expect(ens2f0).toHaveLength(16);
    expect(ens2f0[1]?.attributes).toMatchObject({
      vf: '1',
      mac: 'be:c8:8b:88:a2:15',
      spoof_check: 'true',
      trust: 'false',
      link_state: 'auto',
    });
    // Values as printed by `ip -s -d link show dev ens2f0` for vf 1, 3 and 15.
    const vf = (n: number): string => `0000:37:00.0/vf${n}`;
    expect(find(out, 'sriov_vf_rx_bytes_total', vf(1))?.value).toBe(505712);
    expect(find(out, 'sriov_vf_rx_packets_total', vf(3))?.value).toBe(4374);
    expect(find(out, 'sriov_vf_rx_broadcast_total', vf(15))?.value).toBe(5435);
    expect(find(out, 'sriov_vf_tx_packets_total', vf(15))?.value).toBe(0);
    expect(find(out, 'sriov_vf_rx_dropped_total', vf(15))?.series).toMatchObject({
      kind: 'counter',
      labels: { pf: 'ens2f0', vf: '15' },
    });
    // Sum of the 16 "RX: packets" columns of the recorded text (awk over the original output).
    const rxPackets = out.samples.filter((s) => s.series.metric === 'sriov_vf_rx_packets_total');
    expect(rxPackets.reduce((sum, s) => sum + s.value, 0)).toBe(97_796);
  });

  it('keeps everything else when one PF has no netlink answer', async () => {
    const out = await collect(await startCollector({}));
    // No `ip` output was recorded for eno4: the replay says the device does not exist.
    expect(find(out, 'sriov_pf_netlink_up', '0000:01:00.3')?.value).toBe(0);
    expect(find(out, 'sriov_pf_netlink_up', '0000:37:00.0')?.value).toBe(1);
    expect(out.inventory.filter((i) => i.attributes.pf === 'eno4' && i.kind === 'nic_vf')).toHaveLength(7);
  });

  it('logs a failure that repeats every run once, not once per run', async () => {
    const lines: string[] = [];
    const config = sriovCollectorFactory.parseConfig({
      sysfsRoot: join(fixtures, 'sysfs'),
      ipPath: join(fixtures, 'ip', 'ip'),
      podResourcesSocket: '',
    });
    const collector = sriovCollectorFactory.create(config, {
      logger: pino({ level: 'warn' }, { write: (line: string) => lines.push(line) }),
      nodeName: 'storm5',
      now: () => clockMs,
    });
    collectors.push(collector);
    await collector.start();
    for (let i = 0; i < 3; i++) await collect(collector);
    const warnings = lines.map(
      (l) => JSON.parse(l) as { msg: string; pf?: string; err?: { message: string } },
    );
    expect(warnings.map((w) => [w.msg, w.pf])).toEqual([['reading VF info through ip link failed', 'eno4']]);
    expect(warnings[0]?.err?.message).toContain('Device "eno4" does not exist.');
  });

  it('reports a clear netlink failure for unparsable ip output without losing the other PFs', async () => {
    const { ipDir } = await copyFixtures('bad-json');
    await writeFile(join(ipDir, 'link-ens2f0.json'), '[{"ifname": "ens2f0", "vfinfo_list": [ {"vf": 0,');
    const out = await collect(await startCollector({ ipPath: join(ipDir, 'ip') }));
    expect(find(out, 'sriov_pf_netlink_up', '0000:37:00.0')?.value).toBe(0);
    expect(out.samples.some((s) => s.series.metric === 'sriov_vf_rx_bytes_total')).toBe(false);
    expect(out.inventory.filter((i) => i.kind === 'nic_pf')).toHaveLength(7);
  });

  it('reports itself absent on a node without SR-IOV devices', async () => {
    const empty = join(work, 'empty-sys');
    await mkdir(join(empty, 'bus', 'pci', 'devices'), { recursive: true });
    const out = await collect(await startCollector({ sysfsRoot: empty }));
    expect(out.samples).toEqual([]);
    expect(out.inventory).toEqual([
      expect.objectContaining({ kind: 'collector', entity: 'sriov', absent: true, source: 'sriov' }),
    ]);
  });

  it('collects only the configured PFs', async () => {
    const out = await collect(await startCollector({ pfs: ['ens2f0', '0000:84:00.1'] }));
    expect(out.inventory.filter((i) => i.kind === 'nic_pf').map((i) => i.entity)).toEqual([
      '0000:37:00.0',
      '0000:84:00.1',
    ]);
  });
});

describe('SR-IOV VF-to-pod attribution through a real PodResources gRPC server', () => {
  let server: PodResourcesServer | undefined;
  let failing = false;

  beforeAll(async () => {
    server = await startPodResourcesServer({
      respond: () => {
        if (failing) throw Object.assign(new Error('kubelet restarting'), { code: 14 });
        return {
          podResources: [
            {
              name: 'cnf-du-0',
              namespace: 'ran',
              containers: [
                {
                  name: 'du',
                  devices: [
                    { resourceName: 'openshift.io/storm5', deviceIds: ['0000:01:10.3', '0000:01:11.7'] },
                  ],
                },
              ],
            },
          ],
        };
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('labels the VFs a pod holds and leaves the others unlabelled', async () => {
    failing = false;
    const out = await collect(
      await startCollector({ podResourcesSocket: (server as PodResourcesServer).socketPath }),
    );
    expect(out.samples.find((s) => s.series.metric === 'sriov_pod_resources_up')?.value).toBe(1);
    const vf0 = out.inventory.find((i) => i.entity === '0000:01:10.3');
    expect(vf0?.attributes).toMatchObject({
      namespace: 'ran',
      pod: 'cnf-du-0',
      container: 'du',
      resource: 'openshift.io/storm5',
    });
    expect(out.inventory.find((i) => i.entity === '0000:01:11.7')?.attributes.pod).toBe('cnf-du-0');
    expect(out.inventory.find((i) => i.entity === '0000:01:10.7')?.attributes.pod).toBeUndefined();
  });

  it('puts pod labels on the VF series', async () => {
    failing = false;
    const { sysfs } = await copyFixtures('pod-stats');
    const stats = join(sysfs, 'bus/pci/devices/0000:01:00.3/sriov/0/stats');
    await mkdir(stats, { recursive: true });
    await writeFile(join(stats, 'tx_errors'), '3\n');
    const out = await collect(
      await startCollector({
        sysfsRoot: sysfs,
        podResourcesSocket: (server as PodResourcesServer).socketPath,
      }),
    );
    expect(find(out, 'sriov_vf_tx_errors_total', '0000:01:10.3')?.series.labels).toEqual({
      pf: 'eno4',
      vf: '0',
      namespace: 'ran',
      pod: 'cnf-du-0',
      container: 'du',
      resource: 'openshift.io/storm5',
    });
  });

  it('reports PodResources down and drops only the attribution when the kubelet fails', async () => {
    failing = true;
    const out = await collect(
      await startCollector({ podResourcesSocket: (server as PodResourcesServer).socketPath }),
    );
    expect(out.samples.find((s) => s.series.metric === 'sriov_pod_resources_up')?.value).toBe(0);
    expect(out.inventory.filter((i) => i.kind === 'nic_vf')).toHaveLength(23);
    expect(out.inventory.some((i) => i.attributes.pod !== undefined)).toBe(false);
  });
});

describe('SR-IOV events', () => {
  it('reports numVFs changing, with the new VFs from netlink', async () => {
    const { sysfs, ipDir } = await copyFixtures('numvfs');
    const collector = await startCollector({ sysfsRoot: sysfs, ipPath: join(ipDir, 'ip') });
    const first = await collect(collector);
    expect(first.events).toEqual([]);
    expect(first.inventory.filter((i) => i.attributes.pf === 'eno3' && i.kind === 'nic_vf')).toHaveLength(0);
    // eno3 as `ip link show dev eno3` recorded it later: 7 VFs.
    await writeFile(join(sysfs, 'bus/pci/devices/0000:01:00.2/sriov_numvfs'), '7\n');
    clockMs += 10_000;
    const second = await collect(collector);
    expect(second.events).toEqual([
      expect.objectContaining({
        kind: 'sriov_num_vfs_changed',
        entity: '0000:01:00.2',
        attributes: { pf: 'eno3', from: '0', to: '7' },
      }),
    ]);
    const eno3 = second.inventory.filter((i) => i.attributes.pf === 'eno3' && i.kind === 'nic_vf');
    expect(eno3.map((v) => v.attributes.mac)).toEqual([
      '0a:3f:85:3d:a9:5d',
      '3a:10:db:21:c2:9f',
      '8e:f4:5f:5c:09:52',
      '5e:a1:54:68:99:2c',
      '96:a8:0d:82:35:3c',
      'ba:15:a0:26:56:66',
      '6a:10:12:1c:e7:da',
    ]);
  });

  it('reports VF link state changes, VF netdev link down/up and a jump of the drop rate', async () => {
    const { sysfs, ipDir } = await copyFixtures('vf-events');
    // VF 0 of eno4 rebound to a kernel driver: it gets a netdev whose operstate the test flips.
    const vfDir = join(sysfs, 'bus/pci/devices/0000:01:10.3');
    await rm(join(vfDir, 'driver'));
    await symlink('../../../bus/pci/drivers/igbvf', join(vfDir, 'driver'));
    await mkdir(join(vfDir, 'net/eno4v0'), { recursive: true });
    await writeFile(join(vfDir, 'net/eno4v0/operstate'), 'up\n');
    const collector = await startCollector({ sysfsRoot: sysfs, ipPath: join(ipDir, 'ip') });
    expect((await collect(collector)).events).toEqual([]);

    const jsonPath = join(ipDir, 'link-ens2f0.json');
    const doc = JSON.parse(await readFile(jsonPath, 'utf8')) as {
      vfinfo_list: { link_state: string; stats: { rx: { dropped: number } } }[];
    }[];
    const link = doc[0];
    if (!link) throw new Error('fixture has no link');
    const vf2 = link.vfinfo_list[2];
    const vf5 = link.vfinfo_list[5];
    if (!vf2 || !vf5) throw new Error('fixture lacks vf 2 or 5');
    vf2.link_state = 'disable';
    vf5.stats.rx.dropped += 5000;
    await writeFile(jsonPath, JSON.stringify(doc));
    await writeFile(join(vfDir, 'net/eno4v0/operstate'), 'down\n');
    clockMs += 10_000;
    const second = await collect(collector);
    expect(second.events.map((e) => [e.kind, e.entity, e.attributes.from, e.attributes.to])).toEqual([
      ['sriov_vf_link_change', '0000:01:10.3', 'up', 'down'],
      ['sriov_vf_link_state_change', '0000:37:00.0/vf2', 'auto', 'disable'],
      ['sriov_vf_drop_rate_jump', '0000:37:00.0/vf5', undefined, undefined],
    ]);
    expect(second.events[2]?.attributes.rate_per_second).toBe('500.000');
    expect(find(second, 'sriov_vf_link_up', '0000:01:10.3')?.value).toBe(0);

    // The same rate again is no new jump.
    vf5.stats.rx.dropped += 5000;
    await writeFile(jsonPath, JSON.stringify(doc));
    clockMs += 10_000;
    expect((await collect(collector)).events).toEqual([]);
  });

  it('adds the driver sysfs counters that netlink lacks and never overrides netlink', async () => {
    const { sysfs } = await copyFixtures('driver-stats');
    const stats = join(sysfs, 'bus/pci/devices/0000:37:00.0/sriov/4/stats');
    await mkdir(stats, { recursive: true });
    await writeFile(join(stats, 'tx_errors'), '12\n');
    await writeFile(join(stats, 'rx_bytes'), '1\n');
    await writeFile(join(stats, 'tx_broadcast'), 'garbage\n');
    const out = await collect(await startCollector({ sysfsRoot: sysfs }));
    expect(find(out, 'sriov_vf_tx_errors_total', '0000:37:00.0/vf4')?.value).toBe(12);
    expect(find(out, 'sriov_vf_rx_bytes_total', '0000:37:00.0/vf4')?.value).toBe(408944);
    expect(find(out, 'sriov_vf_tx_broadcast_total', '0000:37:00.0/vf4')).toBeUndefined();
  });
});
