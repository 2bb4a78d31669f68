/**
 * The agent's in-memory telemetry model: what collectors produce and what the
 * pipeline batches, spools and encodes into the public protobuf contract
 * (proto/aiops/v1/ingest.proto). Only agent/encode touches proto/gen.
 */

export type MetricKind = 'gauge' | 'counter';

/** Identity of one time series as the agent sees it (cluster and node are added by the hub from Hello). */
export interface SeriesKey {
  /** Prometheus-style name with base units, e.g. `gpu_power_draw_watts`, `_total` for counters. */
  readonly metric: string;
  /** Collector that produced it: `gpu`, `ptp`, `sriov`, `host`. */
  readonly source: string;
  /** What the series is about (GPU UUID, MIG instance, VF PCI address, PTP port); '' for node level. */
  readonly entity: string;
  /** Remaining labels; keep them few and bounded (no timestamps or ids that change per sample). */
  readonly labels: Readonly<Record<string, string>>;
  readonly kind: MetricKind;
}

export interface Sample {
  readonly series: SeriesKey;
  readonly timestampMs: number;
  /** Always finite: collectors drop absent or unparsable values instead of inventing one. */
  readonly value: number;
}

export type Severity = 'info' | 'warning' | 'error' | 'critical';

export interface AgentEvent {
  readonly timestampMs: number;
  /** snake_case kind, e.g. `gpu_xid`, `ptp_port_state_change`, `spool_overflow`. */
  readonly kind: string;
  readonly severity: Severity;
  readonly source: string;
  readonly entity: string;
  readonly message: string;
  readonly attributes: Readonly<Record<string, string>>;
}

export interface InventoryItem {
  readonly observedMs: number;
  readonly source: string;
  readonly entity: string;
  /** gpu, mig_device, nic_pf, nic_vf, ptp_port, ptp_clock, collector, host, ... */
  readonly kind: string;
  readonly attributes: Readonly<Record<string, string>>;
  /** True when the source does not exist on this node; such an item comes with no samples. */
  readonly absent?: boolean;
  readonly absentReason?: string;
}

/** What one run of a collector produced. */
export interface Collection {
  readonly samples: Sample[];
  readonly events: AgentEvent[];
  readonly inventory: InventoryItem[];
}

export function emptyCollection(): Collection {
  return { samples: [], events: [], inventory: [] };
}

/** Stable string key for a series, used for ref assignment and coalescing. */
export function seriesKeyId(key: SeriesKey): string {
  const labels = Object.keys(key.labels)
    .sort()
    .map((name) => `${name}=${key.labels[name] ?? ''}`)
    .join(',');
  return `${key.source}\u0000${key.entity}\u0000${key.metric}\u0000${labels}`;
}
