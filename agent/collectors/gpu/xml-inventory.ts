import { XMLParser } from 'fast-xml-parser';
import { clockEventReasons } from './fields.js';
import { parseFlag, parseNumber, parsePstate, presentText } from './values.js';
import { gpuHeaderUuid } from './nvlink.js';

/** One value read from `nvidia-smi -q -x`, kept with the text it came from (tests check nothing is invented). */
export interface XmlReading {
  readonly metric: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** In base units. */
  readonly value: number;
  /** The element text as printed, e.g. `71.15 W`. */
  readonly raw: string;
}

export interface MigDeviceInfo {
  /** Index of the MIG device within its GPU (the `-L` "Device N"). */
  readonly index: string;
  readonly gpuInstanceId: string;
  /** Absent when `-q -x` does not print it (nothing is assumed). */
  readonly computeInstanceId?: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly readings: readonly XmlReading[];
}

export interface GpuInfo {
  readonly uuid: string;
  /** From the `<gpu id>` attribute or `<pci><pci_bus_id>`. */
  readonly busId?: string;
  /** nvidia-smi's device index is the minor number's order; -q -x does not print it, so it is resolved by the caller. */
  readonly minorNumber?: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly migDevices: readonly MigDeviceInfo[];
  readonly readings: readonly XmlReading[];
  /** `persistence_mode` is Disabled: every nvidia-smi call re-initialises the GPU (slow, and resets clocks). */
  readonly persistenceOff: boolean;
}

export interface NvidiaSmiLog {
  readonly driverVersion?: string;
  readonly cudaVersion?: string;
  readonly gpus: readonly GpuInfo[];
}

type Node = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  // The DTD declares no entities we need; never expand any (billion-laughs).
  processEntities: false,
  isArray: (name) => name === 'gpu' || name === 'mig_device',
});

function child(node: unknown, ...path: string[]): unknown {
  let current: unknown = node;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Node)[key];
  }
  return current;
}

function text(node: unknown, ...path: string[]): string | undefined {
  return presentText(child(node, ...path));
}

class Readings {
  readonly list: XmlReading[] = [];
  add(
    metric: string,
    raw: unknown,
    scale: number,
    parse: 'number' | 'pstate' | 'flag' = 'number',
    labels?: Record<string, string>,
  ): void {
    if (typeof raw !== 'string') return;
    const value =
      parse === 'pstate'
        ? parsePstate(raw)
        : parse === 'flag'
          ? parseFlag(raw)
          : parseNumber(raw.replace(/x$/, ''));
    if (value === undefined) return;
    this.list.push({ metric, value: value * scale, raw, ...(labels ? { labels } : {}) });
  }
  has(metric: string): boolean {
    return this.list.some((r) => r.metric === metric);
  }
}

const MiB = 1024 * 1024;

function gpuReadings(gpu: Node): XmlReading[] {
  const r = new Readings();
  r.add('gpu_utilization_ratio', child(gpu, 'utilization', 'gpu_util'), 0.01);
  r.add('gpu_memory_utilization_ratio', child(gpu, 'utilization', 'memory_util'), 0.01);
  r.add('gpu_encoder_utilization_ratio', child(gpu, 'utilization', 'encoder_util'), 0.01);
  r.add('gpu_decoder_utilization_ratio', child(gpu, 'utilization', 'decoder_util'), 0.01);
  for (const k of ['total', 'used', 'free', 'reserved'] as const)
    r.add(`gpu_memory_${k}_bytes`, child(gpu, 'fb_memory_usage', k), MiB);
  r.add('gpu_temperature_celsius', child(gpu, 'temperature', 'gpu_temp'), 1);
  r.add('gpu_memory_temperature_celsius', child(gpu, 'temperature', 'memory_temp'), 1);
  // R535 renamed power_readings → gpu_power_readings; R570 dropped power_draw for average/instant.
  const power = (child(gpu, 'gpu_power_readings') ?? child(gpu, 'power_readings')) as Node | undefined;
  if (power) {
    r.add('gpu_power_draw_watts', power['power_draw'], 1);
    if (!r.has('gpu_power_draw_watts')) r.add('gpu_power_draw_watts', power['average_power_draw'], 1);
    r.add('gpu_power_draw_instant_watts', power['instant_power_draw'], 1);
    r.add('gpu_power_limit_watts', power['current_power_limit'] ?? power['power_limit'], 1);
    r.add('gpu_power_enforced_limit_watts', power['enforced_power_limit'], 1);
  }
  r.add('gpu_sm_clock_hz', child(gpu, 'clocks', 'sm_clock'), 1e6);
  r.add('gpu_memory_clock_hz', child(gpu, 'clocks', 'mem_clock'), 1e6);
  r.add('gpu_graphics_clock_hz', child(gpu, 'clocks', 'graphics_clock'), 1e6);
  r.add('gpu_video_clock_hz', child(gpu, 'clocks', 'video_clock'), 1e6);
  r.add('gpu_performance_state', child(gpu, 'performance_state'), 1, 'pstate');
  r.add('gpu_fan_speed_ratio', child(gpu, 'fan_speed'), 0.01);
  r.add(
    'gpu_pcie_link_generation',
    child(gpu, 'pci', 'pci_gpu_link_info', 'pcie_gen', 'current_link_gen'),
    1,
  );
  r.add(
    'gpu_pcie_link_generation_max',
    child(gpu, 'pci', 'pci_gpu_link_info', 'pcie_gen', 'max_link_gen'),
    1,
  );
  r.add(
    'gpu_pcie_link_width_lanes',
    child(gpu, 'pci', 'pci_gpu_link_info', 'link_widths', 'current_link_width'),
    1,
  );
  r.add(
    'gpu_pcie_link_width_max_lanes',
    child(gpu, 'pci', 'pci_gpu_link_info', 'link_widths', 'max_link_width'),
    1,
  );
  r.add('gpu_remapped_rows', child(gpu, 'remapped_rows', 'remapped_row_corr'), 1, 'number', {
    cause: 'correctable',
  });
  r.add('gpu_remapped_rows', child(gpu, 'remapped_rows', 'remapped_row_unc'), 1, 'number', {
    cause: 'uncorrectable',
  });
  r.add('gpu_remapped_rows_pending', child(gpu, 'remapped_rows', 'remapped_row_pending'), 1, 'flag');
  r.add('gpu_remapped_rows_failure', child(gpu, 'remapped_rows', 'remapped_row_failure'), 1, 'flag');
  // Per-reason 0/1 from either layout: clocks_event_reason_<r> (R535+) or clocks_throttle_reason_<r>.
  const reasons = (child(gpu, 'clocks_event_reasons') ?? child(gpu, 'clocks_throttle_reasons')) as
    Node | undefined;
  if (reasons && typeof reasons === 'object') {
    for (const [tag, raw] of Object.entries(reasons)) {
      const name = tag.replace(/^clocks?_(event|throttle)_reasons?_/, '');
      const known = clockEventReasons.find((c) => c.reason === name);
      if (known) r.add('gpu_clock_event_reason_active', raw, 1, 'flag', { reason: known.reason });
    }
  }
  const counters = child(gpu, 'clocks_event_reasons_counters') as Node | undefined;
  if (counters && typeof counters === 'object') {
    const names: Record<string, string> = {
      sw_power_cap: 'sw_power_cap',
      sync_boost: 'sync_boost',
      sw_therm_slowdown: 'sw_thermal_slowdown',
      hw_therm_slowdown: 'hw_thermal_slowdown',
      hw_power_brake: 'hw_power_brake_slowdown',
    };
    for (const [tag, raw] of Object.entries(counters)) {
      const reason = names[tag.replace(/^clocks_event_reasons_counters_/, '')];
      if (reason) r.add('gpu_clock_event_reason_seconds_total', raw, 1e-6, 'number', { reason });
    }
  }
  return r.list;
}

function migDevice(node: Node): MigDeviceInfo | undefined {
  const index = text(node, 'index');
  const gi = text(node, 'gpu_instance_id');
  const ci = text(node, 'compute_instance_id');
  if (index === undefined || gi === undefined) return undefined;
  const attributes: Record<string, string> = {};
  const shared = child(node, 'device_attributes', 'shared');
  if (shared && typeof shared === 'object') {
    for (const [k, v] of Object.entries(shared as Node)) {
      const t = presentText(v);
      if (t !== undefined) attributes[k] = t;
    }
  }
  const r = new Readings();
  for (const k of ['total', 'used', 'free', 'reserved'] as const)
    r.add(`gpu_memory_${k}_bytes`, child(node, 'fb_memory_usage', k), MiB);
  return {
    index,
    gpuInstanceId: gi,
    ...(ci !== undefined ? { computeInstanceId: ci } : {}),
    attributes,
    readings: r.list,
  };
}

function setIf(target: Record<string, string>, key: string, value: string | undefined): void {
  if (value !== undefined) target[key] = value;
}

/**
 * Parses `nvidia-smi -q -x`. Handles the pre-R535 layout
 * (`clocks_throttle_reasons`, `power_readings`), R535+ (`clocks_event_reasons`,
 * `gpu_power_readings`) and R570+ (only average/instant power draw), old
 * DTD-less logs and trimmed ones. Throws on text that is not an nvidia-smi log.
 */
export function parseNvidiaSmiXml(xml: string): NvidiaSmiLog {
  const doc = parser.parse(xml) as Node;
  const log = doc['nvidia_smi_log'];
  if (log === undefined) throw new Error('not an nvidia-smi XML log: no <nvidia_smi_log> element');
  if (typeof log !== 'object' || log === null) return { gpus: [] }; // an empty log: no GPU
  const driverVersion = text(log, 'driver_version');
  const cudaVersion = text(log, 'cuda_version');
  const gpus: GpuInfo[] = [];
  for (const gpu of ((log as Node)['gpu'] as Node[] | undefined) ?? []) {
    const uuid = text(gpu, 'uuid');
    if (uuid === undefined) continue; // a GPU without a UUID cannot be identified; nothing is invented for it
    const busId = text(gpu, 'pci', 'pci_bus_id') ?? presentText(gpu['@id']);
    const attributes: Record<string, string> = {};
    setIf(attributes, 'model', text(gpu, 'product_name'));
    setIf(attributes, 'brand', text(gpu, 'product_brand'));
    setIf(attributes, 'architecture', text(gpu, 'product_architecture'));
    setIf(attributes, 'serial', text(gpu, 'serial'));
    setIf(attributes, 'pci_bus_id', busId);
    setIf(attributes, 'pci_device_id', text(gpu, 'pci', 'pci_device_id'));
    setIf(attributes, 'vbios_version', text(gpu, 'vbios_version'));
    setIf(attributes, 'driver_version', driverVersion);
    setIf(attributes, 'cuda_version', cudaVersion);
    setIf(attributes, 'persistence_mode', text(gpu, 'persistence_mode'));
    setIf(attributes, 'ecc_mode', text(gpu, 'ecc_mode', 'current_ecc'));
    setIf(attributes, 'mig_mode', text(gpu, 'mig_mode', 'current_mig'));
    setIf(attributes, 'virtualization_mode', text(gpu, 'gpu_virtualization_mode', 'virtualization_mode'));
    setIf(attributes, 'compute_mode', text(gpu, 'compute_mode'));
    const power = (child(gpu, 'gpu_power_readings') ?? child(gpu, 'power_readings')) as Node | undefined;
    setIf(attributes, 'power_default_limit', text(power, 'default_power_limit'));
    setIf(attributes, 'power_min_limit', text(power, 'min_power_limit'));
    setIf(attributes, 'power_max_limit', text(power, 'max_power_limit'));
    const migNodes = (child(gpu, 'mig_devices', 'mig_device') as Node[] | undefined) ?? [];
    const migDevices = migNodes.map(migDevice).filter((d): d is MigDeviceInfo => d !== undefined);
    const minor = text(gpu, 'minor_number');
    gpus.push({
      uuid,
      ...(busId ? { busId } : {}),
      ...(minor ? { minorNumber: minor } : {}),
      attributes,
      migDevices,
      readings: gpuReadings(gpu),
      persistenceOff: attributes['persistence_mode']?.toLowerCase() === 'disabled',
    });
  }
  return { ...(driverVersion ? { driverVersion } : {}), ...(cudaVersion ? { cudaVersion } : {}), gpus };
}

/** A MIG device as listed by `nvidia-smi -L`. */
export interface ListedMig {
  readonly gpuUuid: string;
  /** "Device N" within its GPU: the `<index>` of `<mig_device>` in `-q -x`. */
  readonly index: string;
  readonly uuid: string;
  /** e.g. `3g.40gb`. */
  readonly profile: string;
}

/** MIG devices from `nvidia-smi -L` (the only place their UUIDs, which pods are assigned, appear). */
export function parseListGpus(text: string): ListedMig[] {
  const out: ListedMig[] = [];
  let gpu: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const header = gpuHeaderUuid(line);
    if (header) {
      gpu = header;
      continue;
    }
    const mig = /^\s+MIG (\S+)\s+Device\s+(\d+): \(UUID: (MIG-[0-9a-fA-F/-]+)\)/.exec(line);
    if (mig?.[1] && mig[2] && mig[3] && gpu)
      out.push({ gpuUuid: gpu, index: mig[2], uuid: mig[3], profile: mig[1] });
  }
  return out;
}
