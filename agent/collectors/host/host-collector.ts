import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
// The systeminformation parts this collector uses, not the package index:
// the index loads all ~30 of its modules (Wi-Fi, Docker, printers, ...),
// about 0.5 MB of code the agent would keep in memory for nothing.
import type * as Si from 'systeminformation';
import type { Systeminformation } from 'systeminformation';
import { cpuTemperature } from 'systeminformation/lib/cpu.js';
import { fsSize } from 'systeminformation/lib/filesystem.js';
import { mem } from 'systeminformation/lib/memory.js';
import { lazyRequire } from '../../lazy-require.js';
import type { Collection, InventoryItem, MetricKind, Sample } from '../../model/telemetry.js';
import type { Collector, CollectorDeps } from '../collector.js';
import type { HostCollectorConfig } from './config.js';
import { parseProcStat, readInterfaceCounters, type CpuTimes } from './procfs.js';

const SOURCE = 'host';

/** rx_bytes -> host_network_receive_bytes_total, following node_exporter's names. */
const NET_METRICS: Record<string, string> = {
  rx_bytes: 'host_network_receive_bytes_total',
  tx_bytes: 'host_network_transmit_bytes_total',
  rx_packets: 'host_network_receive_packets_total',
  tx_packets: 'host_network_transmit_packets_total',
  rx_errors: 'host_network_receive_errors_total',
  tx_errors: 'host_network_transmit_errors_total',
  rx_dropped: 'host_network_receive_drop_total',
  tx_dropped: 'host_network_transmit_drop_total',
};

/**
 * Host metrics: CPU, memory, load, network interfaces, filesystems and
 * temperatures. See README.md in this folder for what is read and why.
 */
export class HostCollector implements Collector {
  readonly name = SOURCE;
  private readonly exclude: RegExp;
  private readonly excludeFs: Set<string>;
  private readonly logger: Logger;
  private lastSlowMs = -Infinity;
  private previousTotal: CpuTimes | undefined;

  constructor(
    private readonly config: HostCollectorConfig,
    private readonly deps: CollectorDeps,
  ) {
    this.exclude = new RegExp(config.excludeInterfaces);
    this.excludeFs = new Set(config.excludeFsTypes);
    this.logger = deps.logger.child({ collector: SOURCE });
  }

  async start(): Promise<void> {
    // Nothing to probe: every part below is optional and reports only what exists.
  }

  async collect(signal: AbortSignal): Promise<Collection> {
    const ts = this.deps.now();
    const samples: Sample[] = [];
    const add = (
      metric: string,
      kind: MetricKind,
      entity: string,
      labels: Record<string, string>,
      value: number,
    ) => {
      // Absent or unparsable values are dropped, never invented.
      if (Number.isFinite(value))
        samples.push({ series: { metric, source: SOURCE, entity, labels, kind }, timestampMs: ts, value });
    };

    await this.collectCpu(add);
    signal.throwIfAborted();
    await this.collectMemory(add);
    const [l1, l5, l15] = os.loadavg();
    if (process.platform !== 'win32') {
      add('host_load1', 'gauge', '', {}, l1 ?? NaN);
      add('host_load5', 'gauge', '', {}, l5 ?? NaN);
      add('host_load15', 'gauge', '', {}, l15 ?? NaN);
    }
    add('host_uptime_seconds', 'gauge', '', {}, os.uptime());
    signal.throwIfAborted();
    await this.collectNetwork(add);
    // The inventory fact is repeated on the slow cadence so the hub has it
    // even when the batch that first carried it was dropped by the spool.
    const inventory: InventoryItem[] = [];
    if (ts - this.lastSlowMs >= this.config.slowIntervalMs) {
      this.lastSlowMs = ts;
      inventory.push(this.hostInventory(ts));
      signal.throwIfAborted();
      await this.collectFilesystems(add);
      await this.collectTemperatures(add);
    }
    return { samples, events: [], inventory };
  }

  async stop(): Promise<void> {}

  /**
   * CPU time as counters (`host_cpu_seconds_total{cpu,mode}`) per core, as
   * node_exporter does: counters survive missed scrapes and any rate window
   * can be derived. The total is also given as one gauge,
   * `host_cpu_usage_ratio` (non-idle share of all cores since the previous
   * run), because it is the number people look at first.
   */
  private async collectCpu(add: AddFn): Promise<void> {
    let times: CpuTimes[];
    if (process.platform === 'linux') {
      // Synchronous: procfs files are generated in memory (see procfs.ts).
      times = parseProcStat(readFileSync(join(this.config.procRoot, 'stat'), 'latin1'));
    } else {
      times = cpusFromOs();
    }
    for (const t of times) {
      if (t.cpu === 'total') continue;
      for (const [mode, seconds] of Object.entries(t.secondsByMode)) {
        add('host_cpu_seconds_total', 'counter', '', { cpu: t.cpu, mode }, seconds);
      }
    }
    add('host_cpu_count', 'gauge', '', {}, times.filter((t) => t.cpu !== 'total').length);
    const total = times.find((t) => t.cpu === 'total');
    if (total && this.previousTotal) {
      const busy = (t: CpuTimes) =>
        sum(t.secondsByMode) - (t.secondsByMode.idle ?? 0) - (t.secondsByMode.iowait ?? 0);
      const dAll = sum(total.secondsByMode) - sum(this.previousTotal.secondsByMode);
      const dBusy = busy(total) - busy(this.previousTotal);
      if (dAll > 0) add('host_cpu_usage_ratio', 'gauge', '', {}, Math.min(1, Math.max(0, dBusy / dAll)));
    }
    this.previousTotal = total;
  }

  private async collectMemory(add: AddFn): Promise<void> {
    const m = await mem();
    add('host_memory_total_bytes', 'gauge', '', {}, m.total);
    add('host_memory_available_bytes', 'gauge', '', {}, m.available);
    add('host_memory_free_bytes', 'gauge', '', {}, m.free);
    add('host_memory_used_bytes', 'gauge', '', {}, m.total - m.available);
    add('host_memory_buffers_bytes', 'gauge', '', {}, m.buffers);
    add('host_memory_cached_bytes', 'gauge', '', {}, m.cached);
    add('host_swap_total_bytes', 'gauge', '', {}, m.swaptotal);
    add('host_swap_used_bytes', 'gauge', '', {}, m.swapused);
  }

  private async collectNetwork(add: AddFn): Promise<void> {
    if (process.platform === 'linux') {
      for (const { iface, counters } of readInterfaceCounters(this.config.sysRoot, this.exclude)) {
        for (const [key, value] of Object.entries(counters)) {
          const metric = NET_METRICS[key];
          if (metric) add(metric, 'counter', iface, {}, value);
        }
      }
      return;
    }
    // Elsewhere systeminformation is the portable path (it has no packet counters).
    const { networkStats } = lazyRequire('systeminformation/lib/network.js') as Pick<
      typeof Si,
      'networkStats'
    >;
    for (const s of await networkStats('*')) {
      if (this.exclude.test(s.iface)) continue;
      add('host_network_receive_bytes_total', 'counter', s.iface, {}, s.rx_bytes);
      add('host_network_transmit_bytes_total', 'counter', s.iface, {}, s.tx_bytes);
      add('host_network_receive_errors_total', 'counter', s.iface, {}, s.rx_errors);
      add('host_network_transmit_errors_total', 'counter', s.iface, {}, s.tx_errors);
      add('host_network_receive_drop_total', 'counter', s.iface, {}, s.rx_dropped);
      add('host_network_transmit_drop_total', 'counter', s.iface, {}, s.tx_dropped);
    }
  }

  private async collectFilesystems(add: AddFn): Promise<void> {
    let filesystems: Systeminformation.FsSizeData[];
    try {
      filesystems = await fsSize();
    } catch (err) {
      this.logger.debug({ err }, 'filesystem sizes unavailable');
      return;
    }
    for (const f of filesystems) {
      if (this.excludeFs.has(f.type)) continue;
      const labels = { device: f.fs, fstype: f.type };
      add('host_filesystem_size_bytes', 'gauge', f.mount, labels, f.size);
      add('host_filesystem_used_bytes', 'gauge', f.mount, labels, f.used);
      add('host_filesystem_avail_bytes', 'gauge', f.mount, labels, f.available);
      if (f.rw !== null) add('host_filesystem_readonly', 'gauge', f.mount, labels, f.rw ? 0 : 1);
    }
  }

  /** Only sensors the machine exposes; systeminformation reports null/-1 for missing ones. */
  private async collectTemperatures(add: AddFn): Promise<void> {
    let t: Systeminformation.CpuTemperatureData;
    try {
      t = await cpuTemperature();
    } catch (err) {
      this.logger.debug({ err }, 'temperatures unavailable');
      return;
    }
    const valid = (v: number | null | undefined): v is number =>
      typeof v === 'number' && Number.isFinite(v) && v > -273;
    if (valid(t.main)) add('host_temperature_celsius', 'gauge', '', { sensor: 'cpu' }, t.main);
    t.cores.forEach((v, i) => {
      if (valid(v)) add('host_temperature_celsius', 'gauge', '', { sensor: `core${i}` }, v);
    });
    (t.socket ?? []).forEach((v, i) => {
      if (valid(v)) add('host_temperature_celsius', 'gauge', '', { sensor: `socket${i}` }, v);
    });
    if (valid(t.chipset)) add('host_temperature_celsius', 'gauge', '', { sensor: 'chipset' }, t.chipset);
  }

  private hostInventory(ts: number): InventoryItem {
    const cpus = os.cpus();
    return {
      observedMs: ts,
      source: SOURCE,
      entity: this.deps.nodeName,
      kind: 'host',
      attributes: {
        hostname: os.hostname(),
        platform: process.platform,
        arch: os.arch(),
        kernel: os.release(),
        cpu_model: cpus[0]?.model.trim() ?? '',
        cpu_count: String(cpus.length),
        memory_bytes: String(os.totalmem()),
      },
    };
  }
}

type AddFn = (
  metric: string,
  kind: MetricKind,
  entity: string,
  labels: Record<string, string>,
  value: number,
) => void;

function sum(record: Readonly<Record<string, number>>): number {
  let s = 0;
  for (const v of Object.values(record)) s += v;
  return s;
}

/** os.cpus() times are milliseconds per mode (no iowait/steal outside Linux). */
function cpusFromOs(): CpuTimes[] {
  const perCore = os.cpus().map((c, i) => ({
    cpu: String(i),
    secondsByMode: {
      user: c.times.user / 1000,
      nice: c.times.nice / 1000,
      system: c.times.sys / 1000,
      idle: c.times.idle / 1000,
      irq: c.times.irq / 1000,
    },
  }));
  const total: Record<string, number> = {};
  for (const c of perCore)
    for (const [m, v] of Object.entries(c.secondsByMode)) total[m] = (total[m] ?? 0) + v;
  return [...perCore, { cpu: 'total', secondsByMode: total }];
}
