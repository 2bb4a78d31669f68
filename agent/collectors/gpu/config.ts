import { ConfigError } from '../../errors.js';
import { defaultPodResourcesSocket } from '../../kubelet/pod-resources-client.js';
import { defaultDcgmUrl } from './dcgm.js';

/** GPU collector options (the schedule itself is in the agent's collector config). */
export interface GpuCollectorConfig {
  /** Absolute path of nvidia-smi. Never looked up on PATH; tests point it at the replay executable. */
  readonly nvidiaSmiPath: string;
  /** `-lms` interval of the long-running query child. */
  readonly sampleIntervalMs: number;
  /**
   * Longest hang deadline: no line for this long → the child is killed and restarted, whatever the
   * cadence. Used until the cadence is observed and while our own one-shot nvidia-smi calls run.
   * Default: see defaultHangTimeoutMs.
   */
  readonly hangTimeoutMs: number;
  /**
   * Adaptive hang deadline = longest observed silence between query cycles (at least the interval) +
   * this margin, at most hangTimeoutMs. Default: see defaultHangMarginMs.
   */
  readonly hangMarginMs: number;
  /** Deadline for the first line after a (re)start; NVML init takes seconds without persistence mode. */
  readonly startTimeoutMs: number;
  /** Deadline of one-shot calls (`--help-query-gpu`, `-q -x`, `-L`): `-q -x` takes 0.4–6 s on real servers. */
  readonly commandTimeoutMs: number;
  readonly restartBackoffInitialMs: number;
  readonly restartBackoffMaxMs: number;
  readonly maxGarbageLines: number;
  /** Rows kept between two collects; beyond, the oldest are dropped and counted. */
  readonly maxBufferedRows: number;
  /** dcgm-exporter `/metrics` URL; '' disables the DCGM source. */
  readonly dcgmUrl: string;
  readonly dcgmTimeoutMs: number;
  readonly dcgmMaxBytes: number;
  /** Kernel log to read Xid lines from; '' disables. A regular file is followed like `tail -f`. */
  readonly kmsgPath: string;
  /** Kubelet PodResources socket; '' disables attribution. */
  readonly podResourcesSocket: string;
  /** Attribution is refreshed at most this often. */
  readonly podResourcesRefreshMs: number;
  /** Inventory is re-sent at least this often even when unchanged. */
  readonly inventoryRepeatMs: number;
  /**
   * `-q -x` is re-read at least this often (besides after a child failure, a GPU-set change, Xid 79 and
   * a change of DCGM's MIG instances): a MIG reconfiguration changes nothing the query stream shows.
   * 0: only on those triggers.
   */
  readonly inventoryRefreshMs: number;
  /** `nvidia-smi nvlink -s` (link state and speed) is read this often; 0 disables. */
  readonly nvlinkIntervalMs: number;
  /**
   * While nvidia-smi is absent it is probed again this often: the GPU Operator's driver container
   * often comes up after the agent.
   */
  readonly reprobeIntervalMs: number;
}

/** Least slack of the longest hang deadline over the interval: one slow query must not count as a hang. */
export const minHangSlackMs = 2_000;
/** Most slack: a query slower than this is itself a fault, and recovery must not wait longer. */
export const maxHangSlackMs = 30_000;

/**
 * Default longest hang deadline: the interval plus a slack of one interval, clamped to 2–30 s.
 *
 * `nvidia-smi -lms N` sleeps N ms *after* each query, so lines arrive every N ms plus the query's own
 * duration — which grows with the GPU count and the field count, and spikes when persistence mode is
 * off or the driver is busy (hundreds of ms to seconds on 8-GPU servers). Before that duration has been
 * observed, and while our own `-q -x` runs beside the stream, the deadline must allow for it: this
 * bound. Beyond 30 s of slack a silent child is hung whatever the interval.
 */
export function defaultHangTimeoutMs(sampleIntervalMs: number): number {
  return sampleIntervalMs + Math.min(maxHangSlackMs, Math.max(minHangSlackMs, sampleIntervalMs));
}

/** Least margin of the adaptive deadline over the observed cadence (timer and scheduling jitter). */
export const minHangMarginMs = 200;

/**
 * Default margin of the adaptive hang deadline over the longest observed silence between cycles: a fifth
 * of the interval, at least 200 ms. The observed silence already holds the query's duration and its
 * recent variation; the margin covers variation not yet seen. Small enough that a hang is detected,
 * and the child replaced, within two intervals when query time + margin + the new child's start-up
 * fit in one interval (1 s interval: 200 ms margin).
 */
export function defaultHangMarginMs(sampleIntervalMs: number): number {
  return Math.max(minHangMarginMs, Math.round(sampleIntervalMs / 5));
}

export function defaultGpuConfig(): GpuCollectorConfig {
  return {
    nvidiaSmiPath: '/usr/bin/nvidia-smi',
    sampleIntervalMs: 1_000,
    hangTimeoutMs: 3_000, // defaultHangTimeoutMs(1_000)
    hangMarginMs: 200, // defaultHangMarginMs(1_000)
    startTimeoutMs: 10_000,
    commandTimeoutMs: 30_000,
    restartBackoffInitialMs: 100,
    restartBackoffMaxMs: 30_000,
    maxGarbageLines: 3,
    maxBufferedRows: 20_000,
    dcgmUrl: defaultDcgmUrl,
    dcgmTimeoutMs: 2_000,
    dcgmMaxBytes: 8 * 1024 * 1024,
    kmsgPath: '/dev/kmsg',
    podResourcesSocket: defaultPodResourcesSocket,
    podResourcesRefreshMs: 10_000,
    inventoryRepeatMs: 300_000,
    inventoryRefreshMs: 300_000,
    nvlinkIntervalMs: 60_000,
    reprobeIntervalMs: 60_000,
  };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const integerBounds: Partial<Record<keyof GpuCollectorConfig, [number, number]>> = {
  sampleIntervalMs: [100, 3_600_000],
  hangTimeoutMs: [100, 3_600_000],
  hangMarginMs: [0, 3_600_000],
  startTimeoutMs: [100, 3_600_000],
  commandTimeoutMs: [100, 600_000],
  restartBackoffInitialMs: [0, 600_000],
  restartBackoffMaxMs: [0, 3_600_000],
  maxGarbageLines: [0, 1_000_000],
  maxBufferedRows: [1, 10_000_000],
  dcgmTimeoutMs: [100, 600_000],
  dcgmMaxBytes: [1024, 1024 * 1024 * 1024],
  podResourcesRefreshMs: [0, 3_600_000],
  inventoryRepeatMs: [1_000, 86_400_000],
  inventoryRefreshMs: [0, 86_400_000],
  nvlinkIntervalMs: [0, 86_400_000],
  reprobeIntervalMs: [100, 86_400_000],
};

/** Validates raw options; throws one ConfigError listing every problem. */
export function parseGpuConfig(raw: unknown): GpuCollectorConfig {
  const out: Mutable<GpuCollectorConfig> = { ...defaultGpuConfig() };
  if (raw === undefined || raw === null) return out;
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(['collectors.gpu: must be an object']);
  const r = raw as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(r)) if (!(key in out)) problems.push(`collectors.gpu.${key}: unknown option`);
  for (const [key, [min, max]] of Object.entries(integerBounds) as [
    keyof GpuCollectorConfig,
    [number, number],
  ][]) {
    const v = r[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      problems.push(`collectors.gpu.${key}: must be an integer in ${min}..${max}`);
    else (out as unknown as Record<string, unknown>)[key] = v;
  }
  if (r.hangTimeoutMs === undefined && typeof r.sampleIntervalMs === 'number')
    out.hangTimeoutMs = defaultHangTimeoutMs(out.sampleIntervalMs);
  if (r.hangMarginMs === undefined && typeof r.sampleIntervalMs === 'number')
    out.hangMarginMs = defaultHangMarginMs(out.sampleIntervalMs);
  if (r.nvidiaSmiPath !== undefined) {
    if (typeof r.nvidiaSmiPath !== 'string' || !r.nvidiaSmiPath.startsWith('/'))
      problems.push('collectors.gpu.nvidiaSmiPath: must be an absolute path (never looked up on PATH)');
    else out.nvidiaSmiPath = r.nvidiaSmiPath;
  }
  for (const key of ['kmsgPath', 'podResourcesSocket'] as const) {
    const v = r[key];
    if (v === undefined) continue;
    if (typeof v !== 'string' || (v !== '' && !v.startsWith('/')))
      problems.push(`collectors.gpu.${key}: must be an absolute path or '' (disabled)`);
    else out[key] = v;
  }
  if (r.dcgmUrl !== undefined) {
    if (typeof r.dcgmUrl !== 'string') problems.push('collectors.gpu.dcgmUrl: must be a string');
    else if (r.dcgmUrl !== '') {
      try {
        const url = new URL(r.dcgmUrl);
        if (url.protocol !== 'http:' && url.protocol !== 'https:')
          problems.push('collectors.gpu.dcgmUrl: must be an http(s) URL');
        else out.dcgmUrl = r.dcgmUrl;
      } catch {
        problems.push(`collectors.gpu.dcgmUrl: not a URL: ${JSON.stringify(r.dcgmUrl)}`);
      }
    } else out.dcgmUrl = '';
  }
  // Lines come every interval plus the query's own duration: a longest deadline of one interval or less
  // would call every cycle a hang and restart nvidia-smi forever. Checked only when both values are valid
  // (an invalid one is already reported, and the default kept in its place would mislead).
  if (
    !problems.some((p) => /\.(hangTimeoutMs|sampleIntervalMs):/.test(p)) &&
    out.hangTimeoutMs <= out.sampleIntervalMs
  )
    problems.push(
      `collectors.gpu.hangTimeoutMs: must be more than sampleIntervalMs (${out.sampleIntervalMs}), or every cycle is a hang`,
    );
  if (out.restartBackoffMaxMs < out.restartBackoffInitialMs)
    problems.push('collectors.gpu.restartBackoffMaxMs: must be >= restartBackoffInitialMs');
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}
