import {
  Batch as PbBatch,
  MetricType,
  Severity as PbSeverity,
  type Event as PbEvent,
  type InventoryFact,
  type Label,
  type SeriesDef,
  type SeriesSamples,
} from '../../proto/gen/aiops/v1/ingest.js';
import type { Collection, SeriesKey, Severity } from '../model/telemetry.js';
import type { SeriesRefTable } from './series-refs.js';

/**
 * Collections -> one protobuf Batch. Every batch carries the SeriesDefs of
 * every ref it uses, so a spool record is self-contained: after any restart
 * or reconnect it can be sent as it is (the sender strips the definitions
 * already sent on the current stream).
 */
export function encodeBatch(
  sequence: number,
  collections: readonly Collection[],
  refs: SeriesRefTable,
): Uint8Array {
  return encodeBatchMessage(buildBatch(sequence, collections, refs));
}

export function encodeBatchMessage(batch: PbBatch): Uint8Array {
  return PbBatch.encode(batch).finish();
}

/** The Batch message for `collections` (refs assigned and made durable). */
export function buildBatch(
  sequence: number,
  collections: readonly Collection[],
  refs: SeriesRefTable,
): PbBatch {
  const bySeries = new Map<number, { ts: number[]; values: number[] }>();
  const events: PbEvent[] = [];
  const inventory: InventoryFact[] = [];
  for (const c of collections) {
    for (const s of c.samples) {
      const ref = refs.refOf(s.series);
      let acc = bySeries.get(ref);
      if (!acc) bySeries.set(ref, (acc = { ts: [], values: [] }));
      acc.ts.push(s.timestampMs);
      acc.values.push(s.value);
    }
    for (const e of c.events) {
      events.push({
        timestampMs: e.timestampMs,
        kind: e.kind,
        severity: SEVERITY[e.severity],
        source: e.source,
        entity: e.entity,
        message: e.message,
        attributes: labels(e.attributes),
      });
    }
    for (const i of c.inventory) {
      inventory.push({
        observedMs: i.observedMs,
        source: i.source,
        entity: i.entity,
        kind: i.kind,
        attributes: labels(i.attributes),
        absent: i.absent ?? false,
        absentReason: i.absentReason ?? '',
      });
    }
  }
  const series: SeriesDef[] = [];
  const samples: SeriesSamples[] = [];
  for (const [ref, acc] of bySeries) {
    series.push(seriesDef(ref, refs.seriesOf(ref)!));
    samples.push({ ref, timestampsMs: acc.ts, values: acc.values });
  }
  // Refs must be durable before a record that uses them.
  refs.flush();
  return { sequence, droppedBefore: 0, series, samples, events, inventory };
}

export function decodeBatch(bytes: Uint8Array): PbBatch {
  return PbBatch.decode(bytes);
}

export function seriesDef(ref: number, key: SeriesKey): SeriesDef {
  return {
    ref,
    metric: key.metric,
    source: key.source,
    entity: key.entity,
    labels: labels(key.labels),
    type: key.kind === 'counter' ? MetricType.METRIC_TYPE_COUNTER : MetricType.METRIC_TYPE_GAUGE,
  };
}

const SEVERITY: Record<Severity, PbSeverity> = {
  info: PbSeverity.SEVERITY_INFO,
  warning: PbSeverity.SEVERITY_WARNING,
  error: PbSeverity.SEVERITY_ERROR,
  critical: PbSeverity.SEVERITY_CRITICAL,
};

function labels(record: Readonly<Record<string, string>>): Label[] {
  return Object.keys(record)
    .sort()
    .map((name) => ({ name, value: record[name] ?? '' }));
}

export type { PbBatch as Batch };
