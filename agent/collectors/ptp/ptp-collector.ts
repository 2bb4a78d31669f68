import { basename } from 'node:path';
import type { Logger } from 'pino';
import type { Collector, CollectorDeps } from '../collector.js';
import type { Collection, Severity } from '../../model/telemetry.js';
import { ClockStateMachine, clockStateCodes, type ClockStateTransition } from './clock-state.js';
import type { PtpCollectorConfig, PtpLogFile } from './config.js';
import { discoverSockets } from './discovery.js';
import { parsePtpLogLine, type PtpLogLine } from './log-parser.js';
import { LogTail } from './log-tail.js';
import { PmcClient, pmcQueries, type PmcResult } from './pmc-client.js';
import { pmcBool, pmcNumber, portStateCodes, type PmcResponse } from './pmc-parser.js';
import { CollectionBuilder, FailureLog } from '../collection-builder.js';

const source = 'ptp';
const nsToSeconds = 1e-9;
/** Port states in which a port follows a master (the grandmaster may be present). */
const receiverStates = new Set(['SLAVE', 'UNCALIBRATED', 'PASSIVE_SLAVE']);

/** What the collector remembers about one ptp4l instance (one management socket) between runs. */
interface InstanceState {
  readonly uds: string;
  up: boolean | undefined;
  clockIdentity?: string;
  ports: Map<string, string>;
  lastIngress?: string;
  lastIngressChangeMs?: number;
  gmPresent?: boolean;
  gmSeen: boolean;
  gmIdentity?: string;
  clockClass?: number;
  gmClockClass?: number;
  /** Has ever had a port following a master, or is slaveOnly: clock state applies. */
  timeReceiver: boolean;
  readonly machine: ClockStateMachine;
}

interface LogSource {
  readonly file: PtpLogFile;
  readonly tail: LogTail;
  linesTotal: number;
}

/**
 * Reads every ptp4l instance on the node through `pmc` over its management
 * socket, and tails the configured ptp4l / phc2sys / ts2phc logs. See README.md
 * for metrics, events and the grandmaster-loss and clock-state rules.
 */
export class PtpCollector implements Collector {
  readonly name = source;
  private readonly log: Logger;
  /** A failure that repeats every run is logged once, until it changes or clears. */
  private readonly failures: FailureLog;
  private readonly pmc: PmcClient;
  private readonly instances = new Map<string, InstanceState>();
  private readonly logs: LogSource[];

  constructor(
    private readonly config: PtpCollectorConfig,
    private readonly deps: CollectorDeps,
  ) {
    this.log = deps.logger.child({ component: 'collector', collector: source });
    this.failures = new FailureLog(this.log);
    this.pmc = new PmcClient({
      pmcPath: config.pmcPath,
      clientDir: config.pmcClientDir,
      timeoutMs: config.pmcTimeoutMs,
      retries: config.pmcRetries,
    });
    this.logs = config.logFiles.map((file) => ({
      file,
      tail: new LogTail(file.path, config.maxLogReadBytes),
      linesTotal: 0,
    }));
  }

  async start(): Promise<void> {
    for (const source of this.logs) await source.tail.start();
    const sockets = await discoverSockets(this.config.sockets, this.config.configFiles);
    this.log.info({ sockets, logFiles: this.logs.map((l) => l.file.path) }, 'ptp collector started');
  }

  async collect(signal: AbortSignal): Promise<Collection> {
    const out = new CollectionBuilder(source);
    const nowMs = this.deps.now();
    const found = await discoverSockets(this.config.sockets, this.config.configFiles);
    for (const uds of found) {
      if (!this.instances.has(uds)) this.instances.set(uds, this.newInstance(uds));
    }
    const present = new Set(found);
    await Promise.all(
      [...this.instances.values()].map((instance) =>
        this.pollInstance(instance, present.has(instance.uds), nowMs, signal, out),
      ),
    );
    let logsPresent = 0;
    for (const logSource of this.logs) if (await this.readLog(logSource, nowMs, out)) logsPresent++;

    if (this.instances.size === 0 && logsPresent === 0) {
      out.inventory.push({
        observedMs: nowMs,
        source,
        entity: source,
        kind: 'collector',
        attributes: { sockets: this.config.sockets.join(','), pmc_path: this.config.pmcPath },
        absent: true,
        absentReason: 'no ptp4l management socket and no configured linuxptp log file found',
      });
    }
    return { samples: out.samples, events: out.events, inventory: out.inventory };
  }

  async stop(): Promise<void> {
    // pmc runs are short-lived children awaited inside collect(); nothing stays open.
    this.instances.clear();
  }

  private newInstance(uds: string): InstanceState {
    const { maxOffsetThresholdNs, minOffsetThresholdNs, holdoverTimeoutMs } = this.config;
    return {
      uds,
      up: undefined,
      ports: new Map(),
      gmSeen: false,
      timeReceiver: false,
      machine: new ClockStateMachine({ maxOffsetThresholdNs, minOffsetThresholdNs, holdoverTimeoutMs }),
    };
  }

  private async pollInstance(
    instance: InstanceState,
    socketPresent: boolean,
    nowMs: number,
    signal: AbortSignal,
    out: CollectionBuilder,
  ): Promise<void> {
    let result: PmcResult | undefined;
    if (socketPresent) {
      try {
        result = await this.pmc.query(instance.uds, pmcQueries, signal);
        this.failures.cleared(`pmc:${instance.uds}`);
      } catch (err) {
        if (signal.aborted) throw err;
        this.failures.warnOnce(`pmc:${instance.uds}`, err, { uds: instance.uds }, 'pmc run failed');
      }
    }
    const answered = result !== undefined && result.responses.size > 0;
    out.sample('ptp_instance_up', instance.uds, {}, answered ? 1 : 0, nowMs);
    if (!answered) {
      if (instance.up === true) {
        out.event(
          nowMs,
          'ptp_process_down',
          'error',
          instance.clockIdentity ?? instance.uds,
          'ptp4l stopped answering on its management socket',
          {
            uds: instance.uds,
            reason: socketPresent ? 'no RESPONSE MANAGEMENT from pmc' : 'management socket gone',
          },
        );
      }
      instance.up = false;
      // A socket that is gone is forgotten once its loss has been reported.
      if (!socketPresent) this.instances.delete(instance.uds);
      return;
    }
    if (instance.up === false) {
      out.event(
        nowMs,
        'ptp_process_up',
        'info',
        instance.clockIdentity ?? instance.uds,
        'ptp4l answers on its management socket again',
        {
          uds: instance.uds,
        },
      );
    }
    instance.up = true;
    this.readInstance(instance, result as PmcResult, nowMs, out);
  }

  private readInstance(
    instance: InstanceState,
    result: PmcResult,
    nowMs: number,
    out: CollectionBuilder,
  ): void {
    const first = (id: string): Readonly<Record<string, string>> =>
      result.responses.get(id)?.[0]?.fields ?? {};
    const def = first('DEFAULT_DATA_SET');
    const clockIdentity = def.clockIdentity ?? instance.clockIdentity ?? instance.uds;
    instance.clockIdentity = clockIdentity;
    const labels = { uds: instance.uds };
    const entity = clockIdentity;

    // Ports: state, properties, statistics.
    const properties = byPort(result.responses.get('PORT_PROPERTIES_NP'));
    const stats = byPort(result.responses.get('PORT_STATS_NP'));
    const portStates = new Map<string, string>();
    for (const response of result.responses.get('PORT_DATA_SET') ?? []) {
      const portIdentity = response.fields.portIdentity ?? response.portIdentity;
      const state = response.fields.portState ?? '';
      portStates.set(portIdentity, state);
      const iface = properties.get(portIdentity)?.interface ?? '';
      const portLabels = { uds: instance.uds, interface: iface };
      out.sample('ptp_port_state', portIdentity, portLabels, portStateCodes[state], nowMs);
      for (const [field, raw] of Object.entries(stats.get(portIdentity) ?? {})) {
        const m = /^(rx|tx)_(.+)$/.exec(field);
        const value = Number(raw);
        if (!m || !Number.isFinite(value)) continue;
        out.sample(
          `ptp_port_${m[1]}_messages_total`,
          portIdentity,
          { ...portLabels, message_type: m[2] ?? '' },
          value,
          nowMs,
          'counter',
        );
      }
      const previous = instance.ports.get(portIdentity);
      if (previous !== undefined && previous !== state) {
        out.event(
          nowMs,
          'ptp_port_state_change',
          portStateSeverity(state),
          portIdentity,
          `port ${portIdentity} ${previous} to ${state}`,
          {
            from: previous,
            to: state,
            interface: iface,
            uds: instance.uds,
            observed_by: 'pmc',
          },
        );
      }
      out.inventory.push({
        observedMs: nowMs,
        source,
        entity: portIdentity,
        kind: 'ptp_port',
        attributes: {
          clock_identity: clockIdentity,
          uds: instance.uds,
          interface: iface,
          state,
          timestamping: properties.get(portIdentity)?.timestamping ?? '',
          delay_mechanism: response.fields.delayMechanism ?? '',
        },
      });
    }
    instance.ports = portStates;
    const states = [...portStates.values()];
    const receiverPort = states.some((s) => receiverStates.has(s));
    const slavePort = states.includes('SLAVE');
    if (receiverPort || pmcBool(def, 'slaveOnly') === true) instance.timeReceiver = true;

    // Grandmaster presence: a port follows a master AND ingress_time advances.
    // PARENT_DATA_SET is never used for this: it keeps the old grandmaster after loss.
    const timeStatus = first('TIME_STATUS_NP');
    const ingress = timeStatus.ingress_time;
    if (ingress !== undefined && ingress !== '0' && ingress !== instance.lastIngress)
      instance.lastIngressChangeMs = nowMs;
    if (ingress !== undefined) instance.lastIngress = ingress;
    const ingressFresh =
      ingress === undefined
        ? receiverPort // TIME_STATUS_NP unanswered: fall back to the port state alone
        : // ptp4l reports ingress_time 0 while a port re-selects a master
          // (UNCALIBRATED after RS_SLAVE): that is "no new measurement yet",
          // not a loss; only ingressStaleMs without an advance is.
          instance.lastIngressChangeMs !== undefined &&
          nowMs - instance.lastIngressChangeMs <= this.config.ingressStaleMs;
    const gmPresent = receiverPort && ingressFresh;

    const current = first('CURRENT_DATA_SET');
    const parent = first('PARENT_DATA_SET');
    const offsetNs = gmPresent ? pmcNumber(current, 'offsetFromMaster') : undefined;
    const clockClass = pmcNumber(def, 'clockClass');
    out.sample('ptp_clock_class', entity, labels, clockClass, nowMs);
    out.sample('ptp_clock_accuracy', entity, labels, pmcNumber(def, 'clockAccuracy'), nowMs);
    if (clockClass !== undefined && instance.clockClass !== undefined && clockClass !== instance.clockClass) {
      out.event(
        nowMs,
        'ptp_clock_class_change',
        'warning',
        entity,
        `clock class ${instance.clockClass} to ${clockClass}`,
        {
          which: 'own',
          from: String(instance.clockClass),
          to: String(clockClass),
          uds: instance.uds,
        },
      );
    }
    if (clockClass !== undefined) instance.clockClass = clockClass;

    const timeProps = first('TIME_PROPERTIES_DATA_SET');
    out.sample('ptp_utc_offset_seconds', entity, labels, pmcNumber(timeProps, 'currentUtcOffset'), nowMs);
    out.sample(
      'ptp_utc_offset_valid',
      entity,
      labels,
      boolValue(pmcBool(timeProps, 'currentUtcOffsetValid')),
      nowMs,
    );
    out.sample('ptp_time_traceable', entity, labels, boolValue(pmcBool(timeProps, 'timeTraceable')), nowMs);
    out.sample(
      'ptp_frequency_traceable',
      entity,
      labels,
      boolValue(pmcBool(timeProps, 'frequencyTraceable')),
      nowMs,
    );
    out.sample('ptp_timescale_ptp', entity, labels, boolValue(pmcBool(timeProps, 'ptpTimescale')), nowMs);
    out.sample('ptp_time_source', entity, labels, pmcNumber(timeProps, 'timeSource'), nowMs);

    const gmIdentity = timeStatus.gmIdentity ?? parent.grandmasterIdentity;
    if (instance.timeReceiver) {
      out.sample('ptp_grandmaster_present', entity, labels, gmPresent ? 1 : 0, nowMs);
      if (gmPresent) {
        // Offsets, delays and the grandmaster's quality are reported only while it is present: after
        // loss ptp4l keeps returning the last values, which would be stale numbers.
        out.sample('ptp_offset_seconds', entity, labels, scale(offsetNs), nowMs);
        out.sample(
          'ptp_mean_path_delay_seconds',
          entity,
          labels,
          scale(pmcNumber(current, 'meanPathDelay')),
          nowMs,
        );
        out.sample('ptp_steps_removed', entity, labels, pmcNumber(current, 'stepsRemoved'), nowMs);
        const gmClass = pmcNumber(parent, 'gm.ClockClass');
        out.sample('ptp_grandmaster_clock_class', entity, labels, gmClass, nowMs);
        out.sample(
          'ptp_grandmaster_clock_accuracy',
          entity,
          labels,
          pmcNumber(parent, 'gm.ClockAccuracy'),
          nowMs,
        );
        out.sample(
          'ptp_grandmaster_offset_scaled_log_variance',
          entity,
          labels,
          pmcNumber(parent, 'gm.OffsetScaledLogVariance'),
          nowMs,
        );
        if (
          gmIdentity !== undefined &&
          instance.gmIdentity !== undefined &&
          gmIdentity !== instance.gmIdentity
        ) {
          out.event(
            nowMs,
            'ptp_grandmaster_change',
            'warning',
            entity,
            `grandmaster ${instance.gmIdentity} to ${gmIdentity}`,
            {
              from: instance.gmIdentity,
              to: gmIdentity,
              uds: instance.uds,
            },
          );
        }
        if (gmIdentity !== undefined) instance.gmIdentity = gmIdentity;
        if (
          gmClass !== undefined &&
          instance.gmClockClass !== undefined &&
          gmClass !== instance.gmClockClass
        ) {
          out.event(
            nowMs,
            'ptp_clock_class_change',
            'warning',
            entity,
            `grandmaster clock class ${instance.gmClockClass} to ${gmClass}`,
            {
              which: 'grandmaster',
              from: String(instance.gmClockClass),
              to: String(gmClass),
              uds: instance.uds,
            },
          );
        }
        if (gmClass !== undefined) instance.gmClockClass = gmClass;
      }
      // Loss and recovery are transitions of a grandmaster once seen; the first acquisition after start is neither.
      if (instance.gmSeen && instance.gmPresent !== gmPresent) {
        const attributes = {
          grandmaster: instance.gmIdentity ?? '',
          uds: instance.uds,
          port_states: states.join(','),
        };
        if (gmPresent)
          out.event(
            nowMs,
            'ptp_grandmaster_recovered',
            'info',
            entity,
            'grandmaster present again',
            attributes,
          );
        else
          out.event(nowMs, 'ptp_grandmaster_lost', 'error', entity, 'grandmaster lost', {
            ...attributes,
            reason: receiverPort ? 'ingress_time not advancing' : 'no port follows a master',
          });
      }
      instance.gmPresent = gmPresent;
      if (gmPresent) instance.gmSeen = true;

      const transition = instance.machine.update({ nowMs, gmPresent, slavePort, offsetNs });
      out.sample('ptp_clock_state', entity, labels, clockStateCodes[instance.machine.state], nowMs);
      if (transition) clockStateEvents(transition, nowMs, entity, instance.uds, out);
    }

    out.inventory.push({
      observedMs: nowMs,
      source,
      entity,
      kind: 'ptp_clock',
      attributes: {
        uds: instance.uds,
        clock_identity: clockIdentity,
        slave_only: def.slaveOnly ?? '',
        number_ports: def.numberPorts ?? '',
        domain_number: def.domainNumber ?? '',
        time_receiver: String(instance.timeReceiver),
        grandmaster_present: instance.timeReceiver ? String(gmPresent) : '',
        grandmaster_identity: gmPresent ? (gmIdentity ?? '') : '',
        clock_state: instance.timeReceiver ? instance.machine.state : '',
        unanswered: result.missing.join(','),
      },
    });
  }

  /** Drains one log file; returns whether the file exists. */
  private async readLog(logSource: LogSource, nowMs: number, out: CollectionBuilder): Promise<boolean> {
    let read;
    try {
      read = await logSource.tail.read();
      this.failures.cleared(`log:${logSource.file.path}`);
    } catch (err) {
      this.failures.warnOnce(
        `log:${logSource.file.path}`,
        err,
        { path: logSource.file.path },
        'reading linuxptp log failed',
      );
      return false;
    }
    if (!read.present) return false;
    const fallbackEntity = logSource.file.name ?? basename(logSource.file.path);
    const monoNowS = Number(process.hrtime.bigint()) / 1e9;
    for (const raw of read.lines) {
      const line = parsePtpLogLine(raw);
      if (!line) continue;
      logSource.linesTotal++;
      const ts = lineTimestampMs(line, nowMs, monoNowS);
      logLineOutput(line, line.tag || fallbackEntity, ts, out);
    }
    out.sample(
      'ptp_log_lines_total',
      fallbackEntity,
      { path: logSource.file.path },
      logSource.linesTotal,
      nowMs,
      'counter',
    );
    return true;
  }
}

function byPort(responses: PmcResponse[] | undefined): Map<string, Readonly<Record<string, string>>> {
  const map = new Map<string, Readonly<Record<string, string>>>();
  for (const r of responses ?? []) map.set(r.fields.portIdentity ?? r.portIdentity, r.fields);
  return map;
}

function boolValue(value: boolean | undefined): number | undefined {
  return value === undefined ? undefined : value ? 1 : 0;
}

function scale(ns: number | undefined): number | undefined {
  return ns === undefined ? undefined : ns * nsToSeconds;
}

function portStateSeverity(to: string): Severity {
  if (to === 'FAULTY') return 'error';
  if (to === 'LISTENING' || to === 'DISABLED') return 'warning';
  return 'info';
}

function clockStateEvents(
  t: ClockStateTransition,
  nowMs: number,
  entity: string,
  uds: string,
  out: CollectionBuilder,
): void {
  const attributes = { from: t.from, to: t.to, uds };
  if (t.from === 'LOCKED')
    out.event(nowMs, 'ptp_lock_lost', 'warning', entity, `clock ${t.from} to ${t.to}`, attributes);
  if (t.to === 'LOCKED')
    out.event(nowMs, 'ptp_lock_recovered', 'info', entity, `clock ${t.from} to ${t.to}`, attributes);
  if (t.to === 'HOLDOVER')
    out.event(nowMs, 'ptp_holdover_entered', 'warning', entity, 'clock entered holdover', attributes);
  if (t.from === 'HOLDOVER')
    out.event(
      nowMs,
      'ptp_holdover_exited',
      t.to === 'FREERUN' ? 'error' : 'info',
      entity,
      t.to === 'FREERUN' ? 'holdover expired: clock free running' : 'holdover ended: clock locked again',
      attributes,
    );
}

/**
 * ptp4l's `[NNN.NNN]` is CLOCK_MONOTONIC seconds, the same clock as
 * process.hrtime on Linux; a plausible one (not in the future, under 10 min
 * old) is turned into wall time, anything else gets the collection time.
 */
function lineTimestampMs(line: PtpLogLine, nowMs: number, monoNowS: number): number {
  if (line.monotonicS === undefined) return nowMs;
  const ageS = monoNowS - line.monotonicS;
  return ageS >= 0 && ageS <= 600 ? Math.round(nowMs - ageS * 1000) : nowMs;
}

function logLineOutput(line: PtpLogLine, entity: string, ts: number, out: CollectionBuilder): void {
  const process = line.process || 'unknown';
  switch (line.kind) {
    case 'servo': {
      const labels = { process, clock: line.clock };
      out.sample('ptp_servo_offset_seconds', entity, labels, line.offsetNs * nsToSeconds, ts);
      out.sample('ptp_servo_state', entity, labels, line.servoState, ts);
      out.sample('ptp_servo_frequency_adjustment_ppb', entity, labels, line.freqPpb, ts);
      out.sample('ptp_servo_path_delay_seconds', entity, labels, scale(line.pathDelayNs), ts);
      return;
    }
    case 'summary': {
      const labels = { process, clock: line.clock || 'master' };
      out.sample('ptp_servo_offset_rms_seconds', entity, labels, line.offsetRmsNs * nsToSeconds, ts);
      out.sample('ptp_servo_offset_max_seconds', entity, labels, line.offsetMaxNs * nsToSeconds, ts);
      out.sample('ptp_servo_frequency_adjustment_ppb', entity, labels, line.freqPpb, ts);
      out.sample('ptp_servo_frequency_adjustment_stddev_ppb', entity, labels, line.freqStddevPpb, ts);
      out.sample('ptp_servo_path_delay_seconds', entity, labels, scale(line.pathDelayNs), ts);
      out.sample('ptp_servo_path_delay_stddev_seconds', entity, labels, scale(line.pathDelayStddevNs), ts);
      return;
    }
    case 'port_state': {
      const port = line.ifname || `port ${line.portNumber}`;
      out.event(ts, 'ptp_port_state_change', portStateSeverity(line.to), `${entity}/${port}`, line.message, {
        from: line.from,
        to: line.to,
        cause: line.event,
        detail: line.detail,
        port_number: String(line.portNumber),
        interface: line.ifname,
        process,
        tag: line.tag,
        observed_by: 'log',
      });
      return;
    }
    case 'link': {
      const port = line.ifname || `port ${line.portNumber}`;
      out.event(ts, 'ptp_port_link_change', line.up ? 'info' : 'error', `${entity}/${port}`, line.message, {
        link: line.up ? 'up' : 'down',
        port_number: String(line.portNumber),
        interface: line.ifname,
        process,
        tag: line.tag,
      });
      return;
    }
    default:
      return;
  }
}
