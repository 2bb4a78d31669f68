import { isAbsolute } from 'node:path';
import { ConfigError } from '../../errors.js';

/** A log file the collector tails (ptp4l / phc2sys / ts2phc stdout captured to a file). */
export interface PtpLogFile {
  readonly path: string;
  /** Entity of the series from this file when its lines carry no message_tag; default: the file name. */
  readonly name?: string;
}

/** PTP collector options. Offsets in ns (as linuxptp prints them), durations in ms. */
export interface PtpCollectorConfig {
  /** Absolute path of pmc; run directly, never through a shell. */
  readonly pmcPath: string;
  /**
   * Directory for pmc's own UNIX socket (`pmc -i <dir>/aiops-pmc.<pid>.<n>`, removed after each run);
   * '' keeps pmc's default /var/run/pmc.<pid>, which needs a writable /var/run.
   */
  readonly pmcClientDir: string;
  /** ptp4l management sockets: absolute paths, `*` and `?` allowed in the last path segment. */
  readonly sockets: readonly string[];
  /** ptp4l config files whose `uds_address` names more sockets (same glob rules); a file without one means /var/run/ptp4l. */
  readonly configFiles: readonly string[];
  readonly logFiles: readonly PtpLogFile[];
  readonly pmcTimeoutMs: number;
  /** Extra pmc runs for the management ids that got no RESPONSE MANAGEMENT block. */
  readonly pmcRetries: number;
  /** LOCKED needs minOffsetThresholdNs <= offset <= maxOffsetThresholdNs (OpenShift: -100 / 100). */
  readonly maxOffsetThresholdNs: number;
  readonly minOffsetThresholdNs: number;
  /** How long HOLDOVER lasts after the grandmaster is lost before FREERUN (OpenShift holdOverTimeout: 5 s). */
  readonly holdoverTimeoutMs: number;
  /** The grandmaster counts as lost when TIME_STATUS_NP ingress_time has not advanced for this long. */
  readonly ingressStaleMs: number;
  /** Most bytes read from one log file per collection; the rest waits for the next one. */
  readonly maxLogReadBytes: number;
}

export function defaultPtpConfig(): PtpCollectorConfig {
  return {
    pmcPath: '/usr/sbin/pmc',
    pmcClientDir: '',
    sockets: ['/var/run/ptp4l', '/var/run/ptp4l.*.socket'],
    configFiles: [],
    logFiles: [],
    pmcTimeoutMs: 2000,
    pmcRetries: 1,
    maxOffsetThresholdNs: 100,
    minOffsetThresholdNs: -100,
    holdoverTimeoutMs: 5000,
    ingressStaleMs: 3000,
    maxLogReadBytes: 1024 * 1024,
  };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function isPathList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string' && isAbsolute(v));
}

/** Validates raw options; throws one ConfigError listing every problem. */
export function parsePtpConfig(raw: unknown): PtpCollectorConfig {
  const out: Mutable<PtpCollectorConfig> = { ...defaultPtpConfig() };
  if (raw === undefined || raw === null) return out;
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(['collectors.ptp: must be an object']);
  const r = raw as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(r)) if (!(key in out)) problems.push(`collectors.ptp.${key}: unknown option`);

  if (r.pmcPath !== undefined) {
    if (typeof r.pmcPath !== 'string' || !isAbsolute(r.pmcPath))
      problems.push('collectors.ptp.pmcPath: must be an absolute path');
    else out.pmcPath = r.pmcPath;
  }
  if (r.pmcClientDir !== undefined) {
    if (typeof r.pmcClientDir !== 'string' || (r.pmcClientDir !== '' && !isAbsolute(r.pmcClientDir)))
      problems.push("collectors.ptp.pmcClientDir: must be an absolute path or ''");
    else out.pmcClientDir = r.pmcClientDir;
  }
  for (const key of ['sockets', 'configFiles'] as const) {
    if (r[key] === undefined) continue;
    if (!isPathList(r[key])) problems.push(`collectors.ptp.${key}: must be a list of absolute paths`);
    else out[key] = r[key];
  }
  if (r.logFiles !== undefined) {
    const list = r.logFiles;
    const valid =
      Array.isArray(list) &&
      list.every(
        (f: unknown) =>
          typeof f === 'object' &&
          f !== null &&
          typeof (f as PtpLogFile).path === 'string' &&
          isAbsolute((f as PtpLogFile).path) &&
          ((f as PtpLogFile).name === undefined || typeof (f as PtpLogFile).name === 'string'),
      );
    if (!valid)
      problems.push('collectors.ptp.logFiles: must be a list of { path: absolute path, name?: string }');
    else out.logFiles = list as PtpLogFile[];
  }
  const integers: [keyof PtpCollectorConfig, number][] = [
    ['pmcTimeoutMs', 100],
    ['pmcRetries', 0],
    ['holdoverTimeoutMs', 0],
    ['ingressStaleMs', 100],
    ['maxLogReadBytes', 1024],
  ];
  for (const [key, min] of integers) {
    const value = r[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min)
      problems.push(`collectors.ptp.${key}: must be an integer >= ${min}`);
    else (out as Record<string, unknown>)[key] = value;
  }
  for (const key of ['maxOffsetThresholdNs', 'minOffsetThresholdNs'] as const) {
    const value = r[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value))
      problems.push(`collectors.ptp.${key}: must be a finite number`);
    else out[key] = value;
  }
  if (out.minOffsetThresholdNs > out.maxOffsetThresholdNs)
    problems.push('collectors.ptp.minOffsetThresholdNs: must not exceed maxOffsetThresholdNs');
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}
