import { readdirSync } from 'node:fs';
import os from 'node:os';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../errors.js';
import { hostCollectorFactory } from './index.js';
import { parseProcStat } from './procfs.js';

const deps = { logger: pino({ level: 'silent' }), nodeName: 'node-a', now: Date.now };

describe('parseProcStat', () => {
  it('turns USER_HZ ticks into seconds per mode for the total and each core', () => {
    const text =
      'cpu  200 0 100 5000 10 0 3 7 0 0\ncpu0 100 0 50 2500 5 0 1 3 0 0\ncpu1 100 0 50 2500 5 0 2 4 0 0\nintr 1 2\n';
    const out = parseProcStat(text);
    expect(out.map((c) => c.cpu)).toEqual(['total', '0', '1']);
    expect(out[1]!.secondsByMode).toEqual({
      user: 1,
      nice: 0,
      system: 0.5,
      idle: 25,
      iowait: 0.05,
      irq: 0,
      softirq: 0.01,
      steal: 0.03,
    });
  });
});

describe('HostCollector', () => {
  it('reads this machine: per-core CPU counters, memory, load, interfaces, filesystems', async () => {
    const c = hostCollectorFactory.create(hostCollectorFactory.defaultConfig(), deps);
    await c.start();
    const first = await c.collect(new AbortController().signal);
    await new Promise((r) => setTimeout(r, 200));
    const second = await c.collect(new AbortController().signal);
    await c.stop();
    const names = new Set(first.samples.map((s) => s.series.metric));
    const cores = new Set(
      first.samples
        .filter((s) => s.series.metric === 'host_cpu_seconds_total')
        .map((s) => s.series.labels.cpu),
    );
    expect(cores.size).toBe(os.cpus().length);
    expect(first.samples.find((s) => s.series.metric === 'host_memory_total_bytes')?.value).toBe(
      os.totalmem(),
    );
    for (const m of ['host_load1', 'host_memory_available_bytes', 'host_filesystem_size_bytes'])
      expect(names).toContain(m);
    for (const s of first.samples) {
      expect(Number.isFinite(s.value)).toBe(true);
      expect(s.series.source).toBe('host');
      if (s.series.metric.endsWith('_total')) expect(s.series.kind).toBe('counter');
    }
    if (process.platform === 'linux') {
      const ifaces = readdirSync('/sys/class/net').filter(
        (n) => !new RegExp(hostCollectorFactory.defaultConfig().excludeInterfaces).test(n),
      );
      const seen = new Set(
        first.samples
          .filter((s) => s.series.metric === 'host_network_receive_packets_total')
          .map((s) => s.series.entity),
      );
      expect([...seen].sort()).toEqual(ifaces.sort());
    }
    // The total utilisation needs two readings; filesystems and inventory wait for the slow cadence.
    expect(first.samples.some((s) => s.series.metric === 'host_cpu_usage_ratio')).toBe(false);
    const ratio = second.samples.find((s) => s.series.metric === 'host_cpu_usage_ratio');
    if (ratio) expect(ratio.value).toBeGreaterThanOrEqual(0);
    expect(second.samples.some((s) => s.series.metric === 'host_filesystem_size_bytes')).toBe(false);
    expect(first.inventory).toEqual([
      expect.objectContaining({ kind: 'host', entity: 'node-a', source: 'host' }),
    ]);
    expect(second.inventory).toEqual([]);
  });

  it('reports temperatures only when the machine exposes sensors', async () => {
    const c = hostCollectorFactory.create(hostCollectorFactory.defaultConfig(), deps);
    const out = await c.collect(new AbortController().signal);
    const temps = out.samples.filter((s) => s.series.metric === 'host_temperature_celsius');
    let hwmon: string[] = [];
    try {
      hwmon = readdirSync('/sys/class/hwmon');
    } catch {
      // none
    }
    if (hwmon.length === 0) expect(temps).toEqual([]);
    for (const t of temps) expect(t.value).toBeGreaterThan(-273);
  });

  it('lists every config problem at once', () => {
    try {
      hostCollectorFactory.parseConfig({ excludeInterfaces: '(', slowIntervalMs: 5, bogus: 1 });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems).toHaveLength(3);
    }
  });
});
