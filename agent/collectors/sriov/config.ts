import { isAbsolute } from 'node:path';
import { ConfigError } from '../../errors.js';
import { defaultPodResourcesSocket } from '../../kubelet/pod-resources-client.js';

/** SR-IOV collector options. */
export interface SriovCollectorConfig {
  /** Root of sysfs (a DaemonSet mounts the host's /sys; tests point it at a recorded tree). */
  readonly sysfsRoot: string;
  /** Absolute path of iproute2's `ip`; run directly, never through a shell. */
  readonly ipPath: string;
  readonly ipTimeoutMs: number;
  /** Only these PFs (interface names or PCI addresses); empty = every SR-IOV capable PF. */
  readonly pfs: readonly string[];
  /** kubelet PodResources socket for VF-to-pod attribution (device ids are VF PCI addresses); '' disables it. */
  readonly podResourcesSocket: string;
  readonly podResourcesTimeoutMs: number;
  /** A VF's drop rate "jumps" when it reaches at least this many drops per second ... */
  readonly dropRateJumpMinPerSecond: number;
  /** ... and at least this many times the rate of the previous interval. */
  readonly dropRateJumpFactor: number;
}

export function defaultSriovConfig(): SriovCollectorConfig {
  return {
    sysfsRoot: '/sys',
    ipPath: '/usr/sbin/ip',
    ipTimeoutMs: 3000,
    pfs: [],
    podResourcesSocket: defaultPodResourcesSocket,
    podResourcesTimeoutMs: 2000,
    dropRateJumpMinPerSecond: 100,
    dropRateJumpFactor: 10,
  };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Validates raw options; throws one ConfigError listing every problem. */
export function parseSriovConfig(raw: unknown): SriovCollectorConfig {
  const out: Mutable<SriovCollectorConfig> = { ...defaultSriovConfig() };
  if (raw === undefined || raw === null) return out;
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(['collectors.sriov: must be an object']);
  const r = raw as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(r))
    if (!(key in out)) problems.push(`collectors.sriov.${key}: unknown option`);
  for (const key of ['sysfsRoot', 'ipPath'] as const) {
    const value = r[key];
    if (value === undefined) continue;
    if (typeof value !== 'string' || !isAbsolute(value))
      problems.push(`collectors.sriov.${key}: must be an absolute path`);
    else out[key] = value;
  }
  if (r.podResourcesSocket !== undefined) {
    const v = r.podResourcesSocket;
    if (typeof v !== 'string' || (v !== '' && !isAbsolute(v)))
      problems.push("collectors.sriov.podResourcesSocket: must be an absolute path or ''");
    else out.podResourcesSocket = v;
  }
  for (const key of ['ipTimeoutMs', 'podResourcesTimeoutMs'] as const) {
    const v = r[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 100)
      problems.push(`collectors.sriov.${key}: must be an integer >= 100`);
    else out[key] = v;
  }
  if (r.pfs !== undefined) {
    if (!Array.isArray(r.pfs) || !r.pfs.every((p) => typeof p === 'string' && p !== ''))
      problems.push('collectors.sriov.pfs: must be a list of interface names or PCI addresses');
    else out.pfs = r.pfs as string[];
  }
  if (r.dropRateJumpMinPerSecond !== undefined) {
    const v = r.dropRateJumpMinPerSecond;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      problems.push('collectors.sriov.dropRateJumpMinPerSecond: must be a positive number');
    else out.dropRateJumpMinPerSecond = v;
  }
  if (r.dropRateJumpFactor !== undefined) {
    const v = r.dropRateJumpFactor;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 1)
      problems.push('collectors.sriov.dropRateJumpFactor: must be a number >= 1');
    else out.dropRateJumpFactor = v;
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}
