import type { EventRecord } from '../store/store.js';
import type { EntityState } from './entity-state.js';

/**
 * Fleet views: what operators ask of the fleet ("which GPUs are throttling",
 * "which PTP clocks are in holdover"), projected from entity states. Metric
 * names are the agent collectors' (docs/metrics.md).
 */

/** Clock-event reasons that mean the GPU is being slowed (not idle, not an app setting). */
export const THROTTLE_REASONS = new Set([
  'sw_power_cap',
  'hw_slowdown',
  'sw_thermal_slowdown',
  'hw_thermal_slowdown',
  'hw_power_brake_slowdown',
]);

function num(state: EntityState, key: string): number | null {
  return state.values.get(key)?.value ?? null;
}

function lastSeen(state: EntityState): number {
  let max = state.observedMs;
  for (const v of state.values.values()) max = Math.max(max, v.timestampMs);
  return max;
}

function attribution(state: EntityState): { namespace: string; pod: string; container: string } | null {
  for (const v of state.values.values()) {
    if (v.labels.pod)
      return { namespace: v.labels.namespace ?? '', pod: v.labels.pod, container: v.labels.container ?? '' };
  }
  if (state.attributes.pod) {
    return {
      namespace: state.attributes.namespace ?? '',
      pod: state.attributes.pod,
      container: state.attributes.container ?? '',
    };
  }
  return null;
}

export interface GpuView {
  cluster: string;
  node: string;
  uuid: string;
  kind: string;
  model: string | null;
  index: string | null;
  lastSeenMs: number;
  utilizationRatio: number | null;
  memoryUsedBytes: number | null;
  memoryTotalBytes: number | null;
  temperatureCelsius: number | null;
  powerDrawWatts: number | null;
  powerLimitWatts: number | null;
  throttleReasons: string[];
  eccVolatileSingleBit: number | null;
  eccVolatileDoubleBit: number | null;
  xidCount: number;
  lastXid: number | null;
  pod: { namespace: string; pod: string; container: string } | null;
}

export function gpuView(state: EntityState, xids: readonly EventRecord[]): GpuView {
  const throttleReasons: string[] = [];
  for (const [key, v] of state.values) {
    const reason = v.labels.reason;
    if (
      key.startsWith('gpu_clock_event_reason_active{') &&
      v.value === 1 &&
      reason &&
      THROTTLE_REASONS.has(reason)
    ) {
      throttleReasons.push(reason);
    }
  }
  const mine = xids.filter(
    (e) => e.cluster === state.cluster && e.node === state.node && e.entity === state.entity,
  );
  const lastXid = mine[0]?.attributes.xid;
  return {
    cluster: state.cluster,
    node: state.node,
    uuid: state.entity,
    kind: state.kind,
    model: state.attributes.model ?? state.attributes.product_name ?? null,
    index: state.attributes.index ?? null,
    lastSeenMs: lastSeen(state),
    utilizationRatio: num(state, 'gpu_utilization_ratio'),
    memoryUsedBytes: num(state, 'gpu_memory_used_bytes'),
    memoryTotalBytes: num(state, 'gpu_memory_total_bytes'),
    temperatureCelsius: num(state, 'gpu_temperature_celsius'),
    powerDrawWatts: num(state, 'gpu_power_draw_watts'),
    powerLimitWatts: num(state, 'gpu_power_limit_watts'),
    throttleReasons: throttleReasons.sort(),
    eccVolatileSingleBit: num(state, 'gpu_ecc_single_bit_volatile_errors_total'),
    eccVolatileDoubleBit: num(state, 'gpu_ecc_double_bit_volatile_errors_total'),
    xidCount: mine.length,
    lastXid: lastXid === undefined ? null : Number(lastXid),
    pod: attribution(state),
  };
}

const CLOCK_STATES = ['FREERUN', 'LOCKED', 'HOLDOVER'] as const;
const PORT_STATES: Readonly<Record<number, string>> = {
  1: 'INITIALIZING',
  2: 'FAULTY',
  3: 'DISABLED',
  4: 'LISTENING',
  5: 'PRE_MASTER',
  6: 'MASTER',
  7: 'PASSIVE',
  8: 'UNCALIBRATED',
  9: 'SLAVE',
};

export interface PtpView {
  cluster: string;
  node: string;
  entity: string;
  kind: string;
  lastSeenMs: number;
  interface: string | null;
  portState: string | null;
  clockState: string | null;
  offsetSeconds: number | null;
  meanPathDelaySeconds: number | null;
  grandmasterPresent: boolean | null;
  grandmasterIdentity: string | null;
  clockClass: number | null;
  grandmasterClockClass: number | null;
  attributes: Record<string, string>;
}

export function ptpView(state: EntityState): PtpView {
  const portState = num(state, 'ptp_port_state');
  const clockState = num(state, 'ptp_clock_state');
  const gmPresent = num(state, 'ptp_grandmaster_present');
  return {
    cluster: state.cluster,
    node: state.node,
    entity: state.entity,
    kind: state.kind,
    lastSeenMs: lastSeen(state),
    interface: state.attributes.interface ?? null,
    portState:
      portState === null ? (state.attributes.state ?? null) : (PORT_STATES[portState] ?? String(portState)),
    clockState: clockState === null ? null : (CLOCK_STATES[clockState] ?? String(clockState)),
    offsetSeconds: num(state, 'ptp_offset_seconds'),
    meanPathDelaySeconds: num(state, 'ptp_mean_path_delay_seconds'),
    grandmasterPresent: gmPresent === null ? null : gmPresent === 1,
    grandmasterIdentity: state.attributes.grandmaster_identity ?? null,
    clockClass: num(state, 'ptp_clock_class'),
    grandmasterClockClass: num(state, 'ptp_grandmaster_clock_class'),
    attributes: { ...state.attributes },
  };
}

export interface SriovView {
  cluster: string;
  node: string;
  pciAddress: string;
  kind: string;
  lastSeenMs: number;
  attributes: Record<string, string>;
  counters: Record<string, number>;
  pod: { namespace: string; pod: string; container: string } | null;
}

export function sriovView(state: EntityState): SriovView {
  const counters: Record<string, number> = {};
  for (const [key, v] of state.values) counters[key.replace(/^sriov_/, '')] = v.value;
  return {
    cluster: state.cluster,
    node: state.node,
    pciAddress: state.entity,
    kind: state.kind,
    lastSeenMs: lastSeen(state),
    attributes: { ...state.attributes },
    counters,
    pod: attribution(state),
  };
}
