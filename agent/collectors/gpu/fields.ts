import type { MetricKind } from '../../model/telemetry.js';

/** How a cell is read: a plain number, a P-state, a Yes/No-style flag. */
export type CellParser = 'number' | 'pstate' | 'flag';

/**
 * One metric this collector can emit, with where it comes from. The table is
 * the single source of truth for the CSV stream, the DCGM mapping and
 * docs/metrics.md.
 */
export interface MetricSpec {
  /** Prometheus name in base units. */
  readonly metric: string;
  readonly kind: MetricKind;
  readonly help: string;
  /** `--query-gpu` names, newest spelling first (the driver supports one of them); empty: not in nvidia-smi. */
  readonly smi: readonly string[];
  readonly parse: CellParser;
  /** nvidia-smi value × smiScale = base unit (MiB → bytes, MHz → Hz, % → ratio, us → s). */
  readonly smiScale: number;
  /** dcgm-exporter field name, when DCGM has it. */
  readonly dcgm?: string;
  /** DCGM value × dcgmScale = base unit. */
  readonly dcgmScale?: number;
  /** Extra fixed labels (e.g. `reason`) for metrics that share one name. */
  readonly labels?: Readonly<Record<string, string>>;
}

const MiB = 1024 * 1024;
const MHz = 1e6;
const pct = 0.01;
const us = 1e-6;

function m(
  metric: string,
  kind: MetricKind,
  smi: readonly string[],
  smiScale: number,
  dcgm: string | undefined,
  dcgmScale: number | undefined,
  help: string,
  extra: Partial<Pick<MetricSpec, 'parse' | 'labels'>> = {},
): MetricSpec {
  return {
    metric,
    kind,
    help,
    smi,
    parse: extra.parse ?? 'number',
    smiScale,
    ...(dcgm === undefined ? {} : { dcgm, dcgmScale: dcgmScale ?? 1 }),
    ...(extra.labels ? { labels: extra.labels } : {}),
  };
}

export const metricSpecs: readonly MetricSpec[] = [
  m(
    'gpu_utilization_ratio',
    'gauge',
    ['utilization.gpu'],
    pct,
    'DCGM_FI_DEV_GPU_UTIL',
    pct,
    'Time a kernel was running, 0..1 (absent in MIG mode).',
  ),
  m(
    'gpu_memory_utilization_ratio',
    'gauge',
    ['utilization.memory'],
    pct,
    'DCGM_FI_DEV_MEM_COPY_UTIL',
    pct,
    'Time device memory was read or written, 0..1.',
  ),
  m(
    'gpu_encoder_utilization_ratio',
    'gauge',
    ['utilization.encoder'],
    pct,
    'DCGM_FI_DEV_ENC_UTIL',
    pct,
    'Video encoder utilization, 0..1.',
  ),
  m(
    'gpu_decoder_utilization_ratio',
    'gauge',
    ['utilization.decoder'],
    pct,
    'DCGM_FI_DEV_DEC_UTIL',
    pct,
    'Video decoder utilization, 0..1.',
  ),
  m(
    'gpu_memory_total_bytes',
    'gauge',
    ['memory.total'],
    MiB,
    'DCGM_FI_DEV_FB_TOTAL',
    MiB,
    'Frame buffer size.',
  ),
  m(
    'gpu_memory_used_bytes',
    'gauge',
    ['memory.used'],
    MiB,
    'DCGM_FI_DEV_FB_USED',
    MiB,
    'Frame buffer in use.',
  ),
  m('gpu_memory_free_bytes', 'gauge', ['memory.free'], MiB, 'DCGM_FI_DEV_FB_FREE', MiB, 'Frame buffer free.'),
  m(
    'gpu_memory_reserved_bytes',
    'gauge',
    ['memory.reserved'],
    MiB,
    'DCGM_FI_DEV_FB_RESERVED',
    MiB,
    'Frame buffer reserved by the driver.',
  ),
  m(
    'gpu_temperature_celsius',
    'gauge',
    ['temperature.gpu'],
    1,
    'DCGM_FI_DEV_GPU_TEMP',
    1,
    'GPU core temperature.',
  ),
  m(
    'gpu_memory_temperature_celsius',
    'gauge',
    ['temperature.memory'],
    1,
    'DCGM_FI_DEV_MEMORY_TEMP',
    1,
    'HBM temperature.',
  ),
  m(
    'gpu_power_draw_watts',
    'gauge',
    ['power.draw', 'power.draw.average'],
    1,
    'DCGM_FI_DEV_POWER_USAGE',
    1,
    'Board power draw (1 s average on R570+).',
  ),
  m(
    'gpu_power_draw_instant_watts',
    'gauge',
    ['power.draw.instant'],
    1,
    'DCGM_FI_DEV_POWER_USAGE_INSTANT',
    1,
    'Instantaneous board power draw.',
  ),
  m(
    'gpu_power_limit_watts',
    'gauge',
    ['power.limit'],
    1,
    'DCGM_FI_DEV_POWER_MGMT_LIMIT',
    1,
    'Power management limit.',
  ),
  m(
    'gpu_power_enforced_limit_watts',
    'gauge',
    ['enforced.power.limit'],
    1,
    'DCGM_FI_DEV_ENFORCED_POWER_LIMIT',
    1,
    'Power limit the driver enforces.',
  ),
  m(
    'gpu_energy_joules_total',
    'counter',
    [],
    1,
    'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION',
    1e-3,
    'Energy consumed since the driver loaded (DCGM only: nvidia-smi has no query field).',
  ),
  m(
    'gpu_sm_clock_hz',
    'gauge',
    ['clocks.current.sm', 'clocks.sm'],
    MHz,
    'DCGM_FI_DEV_SM_CLOCK',
    MHz,
    'SM clock.',
  ),
  m(
    'gpu_memory_clock_hz',
    'gauge',
    ['clocks.current.memory', 'clocks.mem'],
    MHz,
    'DCGM_FI_DEV_MEM_CLOCK',
    MHz,
    'Memory clock.',
  ),
  m(
    'gpu_graphics_clock_hz',
    'gauge',
    ['clocks.current.graphics', 'clocks.gr'],
    MHz,
    undefined,
    undefined,
    'Graphics clock.',
  ),
  m(
    'gpu_video_clock_hz',
    'gauge',
    ['clocks.current.video', 'clocks.video'],
    MHz,
    'DCGM_FI_DEV_VIDEO_CLOCK',
    MHz,
    'Video engine clock.',
  ),
  m(
    'gpu_performance_state',
    'gauge',
    ['pstate'],
    1,
    'DCGM_FI_DEV_PSTATE',
    1,
    'P-state number (0 = P0, fastest).',
    { parse: 'pstate' },
  ),
  m(
    'gpu_fan_speed_ratio',
    'gauge',
    ['fan.speed'],
    pct,
    'DCGM_FI_DEV_FAN_SPEED',
    pct,
    'Fan speed demanded, 0..1 (absent on passively cooled boards).',
  ),
  m(
    'gpu_pcie_link_generation',
    'gauge',
    ['pcie.link.gen.current', 'pcie.link.gen.gpucurrent'],
    1,
    'DCGM_FI_DEV_PCIE_LINK_GEN',
    1,
    'Current PCIe link generation.',
  ),
  m(
    'gpu_pcie_link_generation_max',
    'gauge',
    ['pcie.link.gen.max'],
    1,
    undefined,
    undefined,
    'Maximum PCIe link generation of GPU and host.',
  ),
  m(
    'gpu_pcie_link_width_lanes',
    'gauge',
    ['pcie.link.width.current'],
    1,
    'DCGM_FI_DEV_PCIE_LINK_WIDTH',
    1,
    'Current PCIe link width.',
  ),
  m(
    'gpu_pcie_link_width_max_lanes',
    'gauge',
    ['pcie.link.width.max'],
    1,
    undefined,
    undefined,
    'Maximum PCIe link width.',
  ),
  m(
    'gpu_pcie_transmit_bytes_per_second',
    'gauge',
    [],
    1,
    'DCGM_FI_PROF_PCIE_TX_BYTES',
    1,
    'PCIe transmit throughput (DCGM profiling).',
  ),
  m(
    'gpu_pcie_receive_bytes_per_second',
    'gauge',
    [],
    1,
    'DCGM_FI_PROF_PCIE_RX_BYTES',
    1,
    'PCIe receive throughput (DCGM profiling).',
  ),
  m('gpu_pcie_replay_errors_total', 'counter', [], 1, 'DCGM_FI_DEV_PCIE_REPLAY_COUNTER', 1, 'PCIe replays.'),
  m(
    'gpu_nvlink_bandwidth_bytes_total',
    'counter',
    [],
    1,
    'DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL',
    1,
    'NVLink traffic over all links (DCGM counter as exported).',
  ),
  m(
    'gpu_nvlink_transmit_bytes_per_second',
    'gauge',
    [],
    1,
    'DCGM_FI_PROF_NVLINK_TX_BYTES',
    1,
    'NVLink transmit throughput (DCGM profiling).',
  ),
  m(
    'gpu_nvlink_receive_bytes_per_second',
    'gauge',
    [],
    1,
    'DCGM_FI_PROF_NVLINK_RX_BYTES',
    1,
    'NVLink receive throughput (DCGM profiling).',
  ),
  m(
    'gpu_ecc_single_bit_volatile_errors_total',
    'counter',
    ['ecc.errors.corrected.volatile.total'],
    1,
    'DCGM_FI_DEV_ECC_SBE_VOL_TOTAL',
    1,
    'Corrected ECC errors since the driver loaded.',
  ),
  m(
    'gpu_ecc_double_bit_volatile_errors_total',
    'counter',
    ['ecc.errors.uncorrected.volatile.total'],
    1,
    'DCGM_FI_DEV_ECC_DBE_VOL_TOTAL',
    1,
    'Uncorrected ECC errors since the driver loaded.',
  ),
  m(
    'gpu_ecc_single_bit_aggregate_errors_total',
    'counter',
    ['ecc.errors.corrected.aggregate.total'],
    1,
    'DCGM_FI_DEV_ECC_SBE_AGG_TOTAL',
    1,
    'Corrected ECC errors over the GPU lifetime.',
  ),
  m(
    'gpu_ecc_double_bit_aggregate_errors_total',
    'counter',
    ['ecc.errors.uncorrected.aggregate.total'],
    1,
    'DCGM_FI_DEV_ECC_DBE_AGG_TOTAL',
    1,
    'Uncorrected ECC errors over the GPU lifetime.',
  ),
  m(
    'gpu_retired_pages',
    'gauge',
    ['retired_pages.single_bit_ecc.count', 'retired_pages.sbe'],
    1,
    'DCGM_FI_DEV_RETIRED_SBE',
    1,
    'Pages retired for single-bit ECC errors (pre-Ampere).',
    { labels: { cause: 'single_bit_ecc' } },
  ),
  m(
    'gpu_retired_pages',
    'gauge',
    ['retired_pages.double_bit.count', 'retired_pages.dbe'],
    1,
    'DCGM_FI_DEV_RETIRED_DBE',
    1,
    'Pages retired for double-bit ECC errors (pre-Ampere).',
    { labels: { cause: 'double_bit_ecc' } },
  ),
  m(
    'gpu_retired_pages_pending',
    'gauge',
    ['retired_pages.pending'],
    1,
    'DCGM_FI_DEV_RETIRED_PENDING',
    1,
    '1 when a page retirement waits for a reboot.',
    { parse: 'flag' },
  ),
  m(
    'gpu_remapped_rows',
    'gauge',
    ['remapped_rows.correctable'],
    1,
    'DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS',
    1,
    'Rows remapped for correctable errors (Ampere+).',
    { labels: { cause: 'correctable' } },
  ),
  m(
    'gpu_remapped_rows',
    'gauge',
    ['remapped_rows.uncorrectable'],
    1,
    'DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS',
    1,
    'Rows remapped for uncorrectable errors (Ampere+).',
    { labels: { cause: 'uncorrectable' } },
  ),
  m(
    'gpu_remapped_rows_pending',
    'gauge',
    ['remapped_rows.pending'],
    1,
    'DCGM_FI_DEV_ROW_REMAP_PENDING',
    1,
    '1 when a row remap waits for a GPU reset.',
    { parse: 'flag' },
  ),
  m(
    'gpu_remapped_rows_failure',
    'gauge',
    ['remapped_rows.failure'],
    1,
    'DCGM_FI_DEV_ROW_REMAP_FAILURE',
    1,
    '1 when a row remap failed (the GPU needs service).',
    { parse: 'flag' },
  ),
  m(
    'gpu_clock_event_reason_seconds_total',
    'counter',
    ['clocks_event_reasons_counters.sw_power_cap'],
    us,
    'DCGM_FI_DEV_POWER_VIOLATION',
    us,
    'Time clocks were held down by the software power cap.',
    { labels: { reason: 'sw_power_cap' } },
  ),
  m(
    'gpu_clock_event_reason_seconds_total',
    'counter',
    ['clocks_event_reasons_counters.sync_boost'],
    us,
    'DCGM_FI_DEV_SYNC_BOOST_VIOLATION',
    us,
    'Time clocks were held down by sync boost.',
    { labels: { reason: 'sync_boost' } },
  ),
  m(
    'gpu_clock_event_reason_seconds_total',
    'counter',
    ['clocks_event_reasons_counters.sw_thermal_slowdown'],
    us,
    undefined,
    undefined,
    'Time clocks were held down by software thermal slowdown.',
    { labels: { reason: 'sw_thermal_slowdown' } },
  ),
  m(
    'gpu_clock_event_reason_seconds_total',
    'counter',
    ['clocks_event_reasons_counters.hw_thermal_slowdown'],
    us,
    undefined,
    undefined,
    'Time clocks were held down by hardware thermal slowdown.',
    { labels: { reason: 'hw_thermal_slowdown' } },
  ),
  m(
    'gpu_clock_event_reason_seconds_total',
    'counter',
    ['clocks_event_reasons_counters.hw_power_brake_slowdown'],
    us,
    undefined,
    undefined,
    'Time clocks were held down by the external power brake.',
    { labels: { reason: 'hw_power_brake_slowdown' } },
  ),
  // DCGM profiling (DCP) fields: nvidia-smi has no equivalent; exported per GPU and per MIG instance.
  m(
    'gpu_graphics_engine_active_ratio',
    'gauge',
    [],
    1,
    'DCGM_FI_PROF_GR_ENGINE_ACTIVE',
    1,
    'Time the graphics/compute engine was active, 0..1 (per MIG instance in MIG mode).',
  ),
  m(
    'gpu_sm_active_ratio',
    'gauge',
    [],
    1,
    'DCGM_FI_PROF_SM_ACTIVE',
    1,
    'Fraction of SMs with at least one warp resident, 0..1.',
  ),
  m(
    'gpu_sm_occupancy_ratio',
    'gauge',
    [],
    1,
    'DCGM_FI_PROF_SM_OCCUPANCY',
    1,
    'Resident warps over the maximum, 0..1.',
  ),
  m(
    'gpu_tensor_pipe_active_ratio',
    'gauge',
    [],
    1,
    'DCGM_FI_PROF_PIPE_TENSOR_ACTIVE',
    1,
    'Tensor core pipe activity, 0..1.',
  ),
  m(
    'gpu_dram_active_ratio',
    'gauge',
    [],
    1,
    'DCGM_FI_PROF_DRAM_ACTIVE',
    1,
    'Device memory interface activity, 0..1.',
  ),
  m(
    'gpu_fp64_pipe_active_ratio',
    'gauge',
    [],
    1,
    'DCGM_FI_PROF_PIPE_FP64_ACTIVE',
    1,
    'FP64 pipe activity, 0..1.',
  ),
  m(
    'gpu_fp32_pipe_active_ratio',
    'gauge',
    [],
    1,
    'DCGM_FI_PROF_PIPE_FP32_ACTIVE',
    1,
    'FP32 pipe activity, 0..1.',
  ),
  m(
    'gpu_fp16_pipe_active_ratio',
    'gauge',
    [],
    1,
    'DCGM_FI_PROF_PIPE_FP16_ACTIVE',
    1,
    'FP16 pipe activity, 0..1.',
  ),
];

/**
 * Clock-event (throttle) reasons by bit, from NVML's
 * `nvmlClocksEventReason*` constants. Each becomes one 0/1 series
 * `gpu_clock_event_reason_active{reason}` from the active bitmask
 * (`clocks_event_reasons.active`, `clocks_throttle_reasons.active` before
 * R530; DCGM_FI_DEV_CLOCKS_EVENT_REASONS / DCGM_FI_DEV_CLOCK_THROTTLE_REASONS).
 */
export const clockEventReasons: readonly {
  readonly bit: bigint;
  readonly reason: string;
  readonly throttling?: 'power' | 'thermal';
}[] = [
  { bit: 0x1n, reason: 'gpu_idle' },
  { bit: 0x2n, reason: 'applications_clocks_setting' },
  { bit: 0x4n, reason: 'sw_power_cap', throttling: 'power' },
  { bit: 0x8n, reason: 'hw_slowdown', throttling: 'thermal' },
  { bit: 0x10n, reason: 'sync_boost' },
  { bit: 0x20n, reason: 'sw_thermal_slowdown', throttling: 'thermal' },
  { bit: 0x40n, reason: 'hw_thermal_slowdown', throttling: 'thermal' },
  { bit: 0x80n, reason: 'hw_power_brake_slowdown', throttling: 'power' },
  { bit: 0x100n, reason: 'display_clocks_setting' },
];

export const clockEventActiveFields = [
  'clocks_event_reasons.active',
  'clocks_throttle_reasons.active',
] as const;
export const clockEventSupportedFields = [
  'clocks_event_reasons.supported',
  'clocks_throttle_reasons.supported',
] as const;
export const dcgmClockEventFields = [
  'DCGM_FI_DEV_CLOCKS_EVENT_REASONS',
  'DCGM_FI_DEV_CLOCK_THROTTLE_REASONS',
] as const;

/**
 * Identity columns of every stream row. `name` is queried last so that a
 * product name with a comma (nvidia-smi CSV does not quote) cannot shift the
 * other columns.
 */
export const identityFields = {
  index: ['index'],
  uuid: ['uuid', 'gpu_uuid'],
  busId: ['pci.bus_id', 'gpu_bus_id'],
  name: ['name', 'gpu_name'],
} as const;
