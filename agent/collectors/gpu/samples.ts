import type { MetricKind, Sample } from '../../model/telemetry.js';
import type { CellParser, MetricSpec } from './fields.js';
import { clockEventReasons } from './fields.js';
import type { GpuRow, QueryPlan } from './query.js';
import { parseBitmask, parseFlag, parseNumber, parsePstate } from './values.js';

export const source = 'gpu';

export function parseCell(parser: CellParser, raw: string | undefined): number | undefined {
  switch (parser) {
    case 'pstate':
      return parsePstate(raw);
    case 'flag':
      return parseFlag(raw);
    default:
      return parseNumber(raw);
  }
}

export function sample(
  metric: string,
  kind: MetricKind,
  entity: string,
  labels: Readonly<Record<string, string>>,
  timestampMs: number,
  value: number,
): Sample {
  return { series: { metric, source, entity, labels, kind }, timestampMs, value };
}

/** One 0/1 series per clock-event reason from the active bitmask. */
export function clockReasonSamples(
  mask: bigint,
  entity: string,
  labels: Readonly<Record<string, string>>,
  timestampMs: number,
): Sample[] {
  return clockEventReasons.map((r) =>
    sample(
      'gpu_clock_event_reason_active',
      'gauge',
      entity,
      { ...labels, reason: r.reason },
      timestampMs,
      (mask & r.bit) === 0n ? 0 : 1,
    ),
  );
}

/** Samples of one spec from one raw value (absent → none), scaled to base units. */
export function specSample(
  spec: MetricSpec,
  value: number | undefined,
  scale: number,
  entity: string,
  labels: Readonly<Record<string, string>>,
  timestampMs: number,
): Sample[] {
  if (value === undefined) return [];
  const scaled = value * scale;
  if (!Number.isFinite(scaled)) return [];
  return [
    sample(
      spec.metric,
      spec.kind,
      entity,
      spec.labels ? { ...labels, ...spec.labels } : labels,
      timestampMs,
      scaled,
    ),
  ];
}

/** The samples of one stream row: every present metric cell plus the decomposed clock-event mask. */
export function rowSamples(
  plan: QueryPlan,
  row: GpuRow,
  labels: Readonly<Record<string, string>>,
  timestampMs: number,
): Sample[] {
  const out: Sample[] = [];
  for (const column of plan.columns) {
    const raw = row.cells.get(column.field);
    if (column.role === 'metric') {
      out.push(
        ...specSample(
          column.spec,
          parseCell(column.spec.parse, raw),
          column.spec.smiScale,
          row.uuid,
          labels,
          timestampMs,
        ),
      );
    } else if (column.role === 'clockActive') {
      const mask = parseBitmask(raw);
      if (mask !== undefined) out.push(...clockReasonSamples(mask, row.uuid, labels, timestampMs));
    }
  }
  return out;
}
