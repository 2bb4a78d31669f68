import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Linux /proc/stat time is in USER_HZ ticks, which the kernel fixes at 100
 * per second for user space on every architecture we run on (the value
 * sysconf(_SC_CLK_TCK) returns; Node.js cannot call sysconf).
 */
export const USER_HZ = 100;

/** /proc/stat column order after the `cpuN` name (see proc(5)). */
const CPU_MODES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;

export interface CpuTimes {
  /** '0', '1', ... per core; 'total' for the aggregate line. */
  readonly cpu: string;
  /** Seconds spent per mode since boot. */
  readonly secondsByMode: Readonly<Record<string, number>>;
}

/**
 * Parses /proc/stat's cpu lines. guest time is already included in user
 * (proc(5)), so it is not reported separately (it would be double counted).
 */
export function parseProcStat(text: string): CpuTimes[] {
  const out: CpuTimes[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('cpu')) continue;
    const parts = line.trim().split(/\s+/);
    const name = parts[0] ?? '';
    const cpu = name === 'cpu' ? 'total' : name.slice(3);
    if (cpu !== 'total' && !/^\d+$/.test(cpu)) continue;
    const secondsByMode: Record<string, number> = {};
    CPU_MODES.forEach((mode, i) => {
      const ticks = Number(parts[i + 1]);
      if (parts[i + 1] !== undefined && Number.isFinite(ticks)) secondsByMode[mode] = ticks / USER_HZ;
    });
    out.push({ cpu, secondsByMode });
  }
  return out;
}

export interface InterfaceCounters {
  readonly iface: string;
  /** Counter name (rx_bytes, tx_packets, ...) to value; only files that exist and parse. */
  readonly counters: Readonly<Record<string, number>>;
}

export const INTERFACE_COUNTERS = [
  'rx_bytes',
  'tx_bytes',
  'rx_packets',
  'tx_packets',
  'rx_errors',
  'tx_errors',
  'rx_dropped',
  'tx_dropped',
] as const;

/**
 * Reads /sys/class/net/<iface>/statistics/*: plain file reads, where
 * systeminformation's networkStats has no packet counters and spawns a shell.
 * Synchronous on purpose: sysfs attributes are generated in memory and never
 * block, and the async path costs a thread-pool round trip plus an fstat per
 * file, which dominated the agent's CPU use in bench:agent.
 */
export function readInterfaceCounters(sysRoot: string, exclude: RegExp): InterfaceCounters[] {
  const netDir = join(sysRoot, 'class', 'net');
  const names = readdirSync(netDir)
    .filter((n) => !exclude.test(n))
    .sort();
  return names.map((iface) => {
    const counters: Record<string, number> = {};
    for (const c of INTERFACE_COUNTERS) {
      try {
        const v = Number(readFileSync(join(netDir, iface, 'statistics', c), 'latin1').trim());
        if (Number.isFinite(v)) counters[c] = v;
      } catch {
        // Interface vanished or the counter is not exposed: report nothing for it.
      }
    }
    return { iface, counters };
  });
}
