/**
 * Tolerant parser for ptp4l / phc2sys / ts2phc output lines, across linuxptp
 * versions and the way OpenShift's linuxptp-daemon runs them:
 *
 *     ptp4l[778.900]: [ptp4l.0.config] port 1: LISTENING to UNCALIBRATED on RS_SLAVE
 *     ptp4l[1306977.262]: [ptp4l.1.config:5] port 1 (ens4f1): SLAVE to FAULTY on FAULT_DETECTED (FT_UNSPECIFIED)
 *     ptp4l[790.820]: [ptp4l.0.config] master offset       -751 s0 freq     -90 path delay      2203
 *     phc2sys[...]: [ptp4l.1.config:6] CLOCK_REALTIME phc offset  -8 s2 freq  -1234 delay   502
 *     ts2phc[...]: [ts2phc.1.config:6] /dev/ptp10 offset          0 s2 freq      -1
 *     ptp4l[882.648]: [ptp4l.0.config] rms  710 max  816 freq     +3 +/- 112 delay  1526 +/-  27
 *
 * The `prog[NNN.NNN]:` prefix carries CLOCK_MONOTONIC seconds; under syslog or
 * journald the bracket holds a pid instead, and the prefix may be absent.
 * `[tag]` (message_tag) and `[tag:level]` are optional; `(ifname)` after the
 * port number appears from linuxptp 4.0. All offsets and delays are nanoseconds,
 * frequencies parts per billion, exactly as printed.
 */

interface LineBase {
  /** `ptp4l`, `phc2sys`, `ts2phc`, ... or '' when the line has no program prefix. */
  readonly process: string;
  /** CLOCK_MONOTONIC seconds from the prefix, when it is a time and not a pid. */
  readonly monotonicS?: number;
  /** message_tag without brackets, e.g. `ptp4l.0.config`; '' when absent. */
  readonly tag: string;
  /** Log level from `[tag:level]`, when present. */
  readonly level?: number;
  /** The message after prefix and tag. */
  readonly message: string;
}

export interface ServoLine extends LineBase {
  readonly kind: 'servo';
  /** What is being servoed: `master` (ptp4l), `CLOCK_REALTIME phc` (phc2sys), `/dev/ptp10` (ts2phc). */
  readonly clock: string;
  readonly offsetNs: number;
  /** Servo state 0..3 from `s0`..`s3` (unlocked, jump, locked, locked stable). */
  readonly servoState: number;
  readonly freqPpb: number;
  readonly pathDelayNs?: number;
}

export interface SummaryLine extends LineBase {
  readonly kind: 'summary';
  /** '' for ptp4l, the clock name for phc2sys summaries. */
  readonly clock: string;
  readonly offsetRmsNs: number;
  readonly offsetMaxNs: number;
  readonly freqPpb: number;
  readonly freqStddevPpb?: number;
  readonly pathDelayNs?: number;
  readonly pathDelayStddevNs?: number;
}

export interface PortStateLine extends LineBase {
  readonly kind: 'port_state';
  readonly portNumber: number;
  /** Interface (or UDS path for port 0) from linuxptp >= 4.0; '' before. */
  readonly ifname: string;
  readonly from: string;
  readonly to: string;
  /** The FSM event, e.g. `ANNOUNCE_RECEIPT_TIMEOUT_EXPIRES`, `FAULT_DETECTED`. */
  readonly event: string;
  /** Extra detail in parentheses, e.g. `FT_UNSPECIFIED`. */
  readonly detail: string;
}

export interface LinkLine extends LineBase {
  readonly kind: 'link';
  readonly portNumber: number;
  readonly ifname: string;
  readonly up: boolean;
}

export interface OtherLine extends LineBase {
  readonly kind: 'other';
}

export type PtpLogLine = ServoLine | SummaryLine | PortStateLine | LinkLine | OtherLine;

const prefixRe = /^([A-Za-z0-9_]+)\[(\d+(?:\.\d+)?)\]:\s?/;
/** Syslog / journald form: `Nov 26 11:37:54 host ptp4l[20101]: ...`. */
const syslogPrefixRe = /^(?:.*?\s)?([A-Za-z0-9_]+)\[(\d+(?:\.\d+)?)\]:\s?/;
const tagRe = /^\[([^\]:]+)(?::(\d+))?\]\s*/;
const servoRe =
  /^(.+?)\s+offset\s+(-?\d+)\s+s(\d)\s+freq\s+([-+]?\d+)(?:\s+(?:path\s+)?delay\s+(-?\d+))?\s*$/;
const summaryRe =
  /^(?:(.*?)\s+)?rms\s+(\d+)\s+max\s+(\d+)\s+freq\s+([-+]?\d+)(?:\s+\+\/-\s+(\d+))?(?:\s+delay\s+(-?\d+)(?:\s+\+\/-\s+(\d+))?)?\s*$/;
const portStateRe =
  /^port\s+(\d+)(?:\s+\(([^)]*)\))?:\s+([A-Z_]+)\s+to\s+([A-Z_]+)\s+on\s+([A-Z_]+)(?:\s+\(([^)]*)\))?\s*$/;
const linkRe = /^port\s+(\d+)(?:\s+\(([^)]*)\))?:\s+link\s+(up|down)\s*$/;

/** Parses one line; returns undefined only for an empty line. Unknown messages come back as `other`. */
export function parsePtpLogLine(raw: string): PtpLogLine | undefined {
  const line = raw.replace(/\r$/, '').trimEnd();
  if (line.trim() === '') return undefined;
  let rest = line;
  let process = '';
  let monotonicS: number | undefined;
  const prefix = prefixRe.exec(rest) ?? syslogPrefixRe.exec(rest);
  if (prefix) {
    process = prefix[1] ?? '';
    const stamp = prefix[2] ?? '';
    // A dotted number is ptp4l's own -m timestamp; a bare integer is a syslog pid.
    if (stamp.includes('.')) monotonicS = Number(stamp);
    rest = rest.slice(prefix[0].length);
  }
  let tag = '';
  let level: number | undefined;
  const tagMatch = tagRe.exec(rest);
  if (tagMatch) {
    tag = tagMatch[1] ?? '';
    if (tagMatch[2] !== undefined) level = Number(tagMatch[2]);
    rest = rest.slice(tagMatch[0].length);
  }
  const message = rest.trim();
  const base: LineBase = {
    process,
    tag,
    message,
    ...(monotonicS !== undefined ? { monotonicS } : {}),
    ...(level !== undefined ? { level } : {}),
  };

  // Cheap substring guards first: the lazy regexes are costly on the many lines they do not match.
  const servo = message.includes(' offset ') ? servoRe.exec(message) : null;
  if (servo) {
    const pathDelay = servo[5];
    return {
      ...base,
      kind: 'servo',
      clock: servo[1] ?? '',
      offsetNs: Number(servo[2]),
      servoState: Number(servo[3]),
      freqPpb: Number(servo[4]),
      ...(pathDelay !== undefined ? { pathDelayNs: Number(pathDelay) } : {}),
    };
  }
  const summary = message.includes('rms ') ? summaryRe.exec(message) : null;
  if (summary) {
    const [, clock = '', rms, max, freq, freqSd, delay, delaySd] = summary;
    return {
      ...base,
      kind: 'summary',
      clock,
      offsetRmsNs: Number(rms),
      offsetMaxNs: Number(max),
      freqPpb: Number(freq),
      ...(freqSd !== undefined ? { freqStddevPpb: Number(freqSd) } : {}),
      ...(delay !== undefined ? { pathDelayNs: Number(delay) } : {}),
      ...(delaySd !== undefined ? { pathDelayStddevNs: Number(delaySd) } : {}),
    };
  }
  const isPort = message.startsWith('port ');
  const state = isPort ? portStateRe.exec(message) : null;
  if (state) {
    return {
      ...base,
      kind: 'port_state',
      portNumber: Number(state[1]),
      ifname: state[2] ?? '',
      from: state[3] ?? '',
      to: state[4] ?? '',
      event: state[5] ?? '',
      detail: state[6] ?? '',
    };
  }
  const link = isPort ? linkRe.exec(message) : null;
  if (link) {
    return {
      ...base,
      kind: 'link',
      portNumber: Number(link[1]),
      ifname: link[2] ?? '',
      up: link[3] === 'up',
    };
  }
  return { ...base, kind: 'other' };
}
