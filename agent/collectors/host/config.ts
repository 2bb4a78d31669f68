import { ConfigError } from '../../errors.js';

/** Host collector options (the schedule itself is in the agent's collector config). */
export interface HostCollectorConfig {
  /** Interfaces whose name matches are skipped (pod veths would explode cardinality). */
  readonly excludeInterfaces: string;
  /** Filesystem types that are skipped (virtual or per-container filesystems). */
  readonly excludeFsTypes: readonly string[];
  /**
   * Filesystems and temperatures are read at most this often: systeminformation
   * spawns `df` and scans hwmon for them, too costly for every 1 s tick.
   */
  readonly slowIntervalMs: number;
  /** Root of procfs and sysfs (a DaemonSet mounts the host's at /host/proc, /host/sys). */
  readonly procRoot: string;
  readonly sysRoot: string;
}

export function defaultHostConfig(): HostCollectorConfig {
  return {
    excludeInterfaces: '^(lo|veth.*|cali.*|flannel.*|cni.*|docker.*|br-.*|tunl.*)$',
    excludeFsTypes: [
      'tmpfs',
      'devtmpfs',
      'overlay',
      'squashfs',
      'proc',
      'sysfs',
      'nsfs',
      'cgroup',
      'cgroup2',
      'autofs',
    ],
    slowIntervalMs: 60_000,
    procRoot: '/proc',
    sysRoot: '/sys',
  };
}

/** Validates raw options; throws one ConfigError listing every problem. */
export function parseHostConfig(raw: unknown): HostCollectorConfig {
  const out = { ...defaultHostConfig() } as {
    -readonly [K in keyof HostCollectorConfig]: HostCollectorConfig[K];
  };
  if (raw === undefined || raw === null) return out;
  const problems: string[] = [];
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(['collectors.host: must be an object']);
  const r = raw as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    if (!(key in out)) problems.push(`collectors.host.${key}: unknown option`);
  }
  if (r.excludeInterfaces !== undefined) {
    if (typeof r.excludeInterfaces !== 'string')
      problems.push('collectors.host.excludeInterfaces: must be a string');
    else {
      try {
        new RegExp(r.excludeInterfaces);
        out.excludeInterfaces = r.excludeInterfaces;
      } catch (err) {
        problems.push(
          `collectors.host.excludeInterfaces: invalid regular expression (${(err as Error).message})`,
        );
      }
    }
  }
  if (r.excludeFsTypes !== undefined) {
    if (!Array.isArray(r.excludeFsTypes) || !r.excludeFsTypes.every((t) => typeof t === 'string'))
      problems.push('collectors.host.excludeFsTypes: must be a list of strings');
    else out.excludeFsTypes = r.excludeFsTypes as string[];
  }
  if (r.slowIntervalMs !== undefined) {
    if (
      typeof r.slowIntervalMs !== 'number' ||
      !Number.isInteger(r.slowIntervalMs) ||
      r.slowIntervalMs < 1000
    )
      problems.push('collectors.host.slowIntervalMs: must be an integer >= 1000');
    else out.slowIntervalMs = r.slowIntervalMs;
  }
  for (const key of ['procRoot', 'sysRoot'] as const) {
    if (r[key] === undefined) continue;
    if (typeof r[key] !== 'string' || !(r[key] as string).startsWith('/'))
      problems.push(`collectors.host.${key}: must be an absolute path`);
    else out[key] = r[key] as string;
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}
