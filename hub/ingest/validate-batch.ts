import type { DecodedBatch, EventIn, InventoryIn } from '../codec/ingest-codec.js';
import type { EventRecord, InventoryRecord, Severity, StoredSeries } from '../store/store.js';
import type { IngestLimits } from './limits.js';
import type { RejectionTally } from './rejections.js';
import { checkLabels, KIND_NAME, SOURCE_NAME, type Problem } from './rules.js';
import type { SeriesTable } from './series-table.js';

/** Longest event message kept, in UTF-16 code units. */
export const MAX_EVENT_MESSAGE_LENGTH = 4096;

/**
 * The storable part of a batch in columnar form, plus where each accepted
 * series' samples lie (for publishing to the bus after commit).
 */
export interface ValidBatchData {
  readonly seriesIds: Float64Array;
  readonly timestampsMs: Float64Array;
  readonly values: Float64Array;
  readonly sampleCount: number;
  /** Runs of accepted samples: series runSeries[i] owns [runStart[i], runEnd[i]). */
  readonly runSeries: readonly StoredSeries[];
  readonly runStart: readonly number[];
  readonly runEnd: readonly number[];
  readonly events: EventRecord[];
  readonly inventory: InventoryRecord[];
}

/** Total samples a decoded batch carries (what max_samples_per_batch limits). */
export function sampleCountOf(batch: DecodedBatch): number {
  return Math.max(batch.timestampsMs.length, batch.values.length);
}

/**
 * Keeps every valid sample, event and fact of a batch and tallies the rest.
 * Hot path: one pass over typed arrays, no per-sample allocation.
 */
export function validateBatchData(
  batch: DecodedBatch,
  table: SeriesTable,
  where: { cluster: string; node: string },
  limits: IngestLimits,
  nowMs: number,
  tally: RejectionTally,
): ValidBatchData {
  const total = Math.min(batch.timestampsMs.length, batch.values.length);
  const seriesIds = new Float64Array(total);
  const timestampsMs = new Float64Array(total);
  const values = new Float64Array(total);
  const runSeries: StoredSeries[] = [];
  const runStart: number[] = [];
  const runEnd: number[] = [];
  const minTs = nowMs - limits.maxSampleAgeMs;
  const maxTs = nowMs + limits.maxFutureSkewMs;
  const inT = batch.timestampsMs;
  const inV = batch.values;
  let n = 0;
  let nonFinite = 0;
  let tooOld = 0;
  let future = 0;
  let firstBad = -1;
  let firstBadRef = 0;

  for (let c = 0; c < batch.chunkCount; c++) {
    const ref = batch.chunkRefs[c]!;
    const tc = batch.tsCount[c]!;
    const vc = batch.valCount[c]!;
    const series = table.get(ref);
    if (!series) {
      const why = table.refusedReason(ref);
      tally.add('unknown_series_ref', Math.max(tc, vc), () =>
        why ? `ref ${ref} (its definition was refused: ${why})` : `ref ${ref} is not defined on this stream`,
      );
      continue;
    }
    if (tc !== vc) {
      tally.add(
        'mismatched_lengths',
        Math.max(tc, vc),
        () => `ref ${ref}: ${tc} timestamps_ms but ${vc} values`,
      );
      continue;
    }
    const ts0 = batch.tsStart[c]!;
    const v0 = batch.valStart[c]!;
    const start = n;
    const id = series.id;
    for (let i = 0; i < tc; i++) {
      const t = inT[ts0 + i]!;
      const v = inV[v0 + i]!;
      // v - v is NaN exactly when v is NaN or ±Infinity.
      if (v - v !== 0) {
        if (nonFinite++ === 0) {
          firstBad = v;
          firstBadRef = ref;
        }
        continue;
      }
      if (t < minTs) {
        tooOld++;
        continue;
      }
      if (t > maxTs) {
        future++;
        continue;
      }
      seriesIds[n] = id;
      timestampsMs[n] = t;
      values[n] = v;
      n++;
    }
    if (n > start) {
      runSeries.push(series);
      runStart.push(start);
      runEnd.push(n);
    }
  }
  if (nonFinite > 0)
    tally.add('non_finite_value', nonFinite, () => `ref ${firstBadRef} value ${String(firstBad)}`);
  if (tooOld > 0) tally.add('timestamp_too_old', tooOld, () => `older than ${new Date(minTs).toISOString()}`);
  if (future > 0)
    tally.add('timestamp_in_future', future, () => `newer than ${new Date(maxTs).toISOString()}`);

  const events: EventRecord[] = [];
  for (const e of batch.events) {
    const problem = checkEvent(e, limits, minTs, maxTs);
    if (problem) addProblem(tally, problem, 'event');
    else events.push(eventRecord(e, where));
  }
  const inventory: InventoryRecord[] = [];
  for (const f of batch.inventory) {
    const problem = checkInventory(f, limits, minTs, maxTs);
    if (problem) addProblem(tally, problem, 'inventory fact');
    else inventory.push(inventoryRecord(f, where));
  }

  return {
    seriesIds: seriesIds.subarray(0, n),
    timestampsMs: timestampsMs.subarray(0, n),
    values: values.subarray(0, n),
    sampleCount: n,
    runSeries,
    runStart,
    runEnd,
    events,
    inventory,
  };
}

function addProblem(tally: RejectionTally, problem: Problem, what: string): void {
  const i = problem.indexOf(':');
  tally.add(
    problem.slice(0, i) as Parameters<RejectionTally['add']>[0],
    1,
    () => `${what}: ${problem.slice(i + 1)}`,
  );
}

function checkTimestamp(
  ts: number,
  minTs: number,
  maxTs: number,
  invalid: 'invalid_event' | 'invalid_inventory',
): Problem | undefined {
  if (ts === 0) return `${invalid}:timestamp is missing`;
  if (ts < minTs) return `timestamp_too_old:${ts} is older than ${new Date(minTs).toISOString()}`;
  if (ts > maxTs) return `timestamp_in_future:${ts} is newer than ${new Date(maxTs).toISOString()}`;
  return undefined;
}

function checkEvent(e: EventIn, limits: IngestLimits, minTs: number, maxTs: number): Problem | undefined {
  const max = limits.maxLabelValueLength;
  const ts = checkTimestamp(e.timestampMs, minTs, maxTs, 'invalid_event');
  if (ts) return ts;
  if (!KIND_NAME.test(e.kind) || e.kind.length > 128)
    return `invalid_event:kind ${JSON.stringify(e.kind.slice(0, 64))} is not snake_case (1..128)`;
  if (e.severity === 'unspecified' || e.severity === 'unknown')
    return `invalid_event:severity is missing or unknown`;
  if (!SOURCE_NAME.test(e.source) || e.source.length > max)
    return `invalid_event:source ${JSON.stringify(e.source.slice(0, 64))} is invalid`;
  if (e.entity.length > max) return `invalid_event:entity longer than ${max}`;
  if (e.message.length > MAX_EVENT_MESSAGE_LENGTH)
    return `invalid_event:message longer than ${MAX_EVENT_MESSAGE_LENGTH}`;
  const attrs = checkLabels(e.attributes, limits, []);
  if (typeof attrs === 'string') return `invalid_event:attributes: ${attrs.slice(attrs.indexOf(':') + 1)}`;
  return undefined;
}

function checkInventory(
  f: InventoryIn,
  limits: IngestLimits,
  minTs: number,
  maxTs: number,
): Problem | undefined {
  const max = limits.maxLabelValueLength;
  const ts = checkTimestamp(f.observedMs, minTs, maxTs, 'invalid_inventory');
  if (ts) return ts;
  if (!SOURCE_NAME.test(f.source) || f.source.length > max)
    return `invalid_inventory:source ${JSON.stringify(f.source.slice(0, 64))} is invalid`;
  if (!KIND_NAME.test(f.kind) || f.kind.length > 128)
    return `invalid_inventory:kind ${JSON.stringify(f.kind.slice(0, 64))} is not snake_case (1..128)`;
  if (f.entity.length > max) return `invalid_inventory:entity longer than ${max}`;
  if (f.absentReason.length > MAX_EVENT_MESSAGE_LENGTH)
    return `invalid_inventory:absent_reason longer than ${MAX_EVENT_MESSAGE_LENGTH}`;
  if (!f.absent && f.absentReason !== '')
    return 'invalid_inventory:absent_reason set on a fact that is not absent';
  const attrs = checkLabels(f.attributes, limits, []);
  if (typeof attrs === 'string')
    return `invalid_inventory:attributes: ${attrs.slice(attrs.indexOf(':') + 1)}`;
  return undefined;
}

function labelsRecord(labels: readonly { name: string; value: string }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of labels) out[l.name] = l.value;
  return out;
}

function eventRecord(e: EventIn, where: { cluster: string; node: string }): EventRecord {
  return {
    cluster: where.cluster,
    node: where.node,
    timestampMs: e.timestampMs,
    kind: e.kind,
    severity: e.severity as Severity,
    source: e.source,
    entity: e.entity,
    message: e.message,
    attributes: labelsRecord(e.attributes),
  };
}

function inventoryRecord(f: InventoryIn, where: { cluster: string; node: string }): InventoryRecord {
  return {
    cluster: where.cluster,
    node: where.node,
    observedMs: f.observedMs,
    source: f.source,
    entity: f.entity,
    kind: f.kind,
    attributes: labelsRecord(f.attributes),
    absent: f.absent,
    absentReason: f.absentReason,
  };
}
