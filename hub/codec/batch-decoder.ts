import {
  Event as PbEvent,
  Hello as PbHello,
  InventoryFact as PbInventoryFact,
  MetricType,
  SeriesDef as PbSeriesDef,
  Severity,
} from '../../proto/gen/aiops/v1/ingest.js';
import type {
  DecodedBatch,
  EventIn,
  HelloIn,
  InventoryIn,
  MetricTypeIn,
  SeriesDefIn,
  SeverityIn,
} from './types.js';
import { countPackedVarints, WireError, WireReader } from './wire-reader.js';

/*
 * Batch decoding in two passes over the bytes: the first finds the
 * SeriesSamples sub-messages and counts their timestamps and values, the
 * second fills two preallocated Float64Arrays. No per-sample object or array
 * growth. Series definitions, events and inventory are small and rare, so
 * they go through the generated decoders.
 */

const WT_VARINT = 0;
const WT_FIXED64 = 1;
const WT_LEN = 2;

/** Decodes a Batch message occupying buf[start, end). Throws WireError on malformed bytes. */
export function decodeBatch(buf: Uint8Array, start: number, end: number): DecodedBatch {
  const r = new WireReader(buf, start, end);
  let sequence = 0;
  let droppedBefore = 0;
  const series: SeriesDefIn[] = [];
  const events: EventIn[] = [];
  const inventory: InventoryIn[] = [];
  // [start, end) of each SeriesSamples message, flattened.
  const chunkBounds: number[] = [];
  let totalTs = 0;
  let totalVal = 0;

  while (!r.done()) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 0) throw new WireError('field number 0 is invalid');
    if (field === 1 && wt === WT_VARINT) {
      sequence = safeUint64(r.int64(false), 'Batch.sequence');
    } else if (field === 2 && wt === WT_VARINT) {
      droppedBefore = safeUint64(r.int64(false), 'Batch.dropped_before');
    } else if (field === 3 && wt === WT_LEN) {
      const e = r.delimitedEnd();
      series.push(seriesDefIn(generated(() => PbSeriesDef.decode(buf.subarray(r.pos, e)), 'SeriesDef')));
      r.pos = e;
    } else if (field === 4 && wt === WT_LEN) {
      const e = r.delimitedEnd();
      const counts = countChunk(buf, r.pos, e);
      totalTs += counts.ts;
      totalVal += counts.val;
      chunkBounds.push(r.pos, e);
      r.pos = e;
    } else if (field === 5 && wt === WT_LEN) {
      const e = r.delimitedEnd();
      events.push(eventIn(generated(() => PbEvent.decode(buf.subarray(r.pos, e)), 'Event')));
      r.pos = e;
    } else if (field === 6 && wt === WT_LEN) {
      const e = r.delimitedEnd();
      inventory.push(
        inventoryIn(generated(() => PbInventoryFact.decode(buf.subarray(r.pos, e)), 'InventoryFact')),
      );
      r.pos = e;
    } else {
      r.skip(wt);
    }
  }

  const chunkCount = chunkBounds.length / 2;
  const chunkRefs = new Uint32Array(chunkCount);
  const tsStart = new Uint32Array(chunkCount);
  const tsCount = new Uint32Array(chunkCount);
  const valStart = new Uint32Array(chunkCount);
  const valCount = new Uint32Array(chunkCount);
  const timestampsMs = new Float64Array(totalTs);
  const values = new Float64Array(totalVal);
  let ti = 0;
  let vi = 0;
  for (let c = 0; c < chunkCount; c++) {
    const cr = new WireReader(buf, chunkBounds[2 * c]!, chunkBounds[2 * c + 1]!);
    tsStart[c] = ti;
    valStart[c] = vi;
    while (!cr.done()) {
      const tag = cr.uint32();
      const field = tag >>> 3;
      const wt = tag & 7;
      if (field === 1 && wt === WT_VARINT) {
        chunkRefs[c] = cr.uint32();
      } else if (field === 2 && wt === WT_LEN) {
        const e = cr.delimitedEnd();
        while (cr.pos < e) timestampsMs[ti++] = cr.int64(true);
        if (cr.pos !== e) throw new WireError('packed timestamps_ms overruns its length');
      } else if (field === 2 && wt === WT_VARINT) {
        timestampsMs[ti++] = cr.int64(true);
      } else if (field === 3 && wt === WT_LEN) {
        const e = cr.delimitedEnd();
        // Length checked to be a multiple of 8 in the first pass.
        const count = (e - cr.pos) / 8;
        cr.packedDoubles(values, vi, count);
        vi += count;
      } else if (field === 3 && wt === WT_FIXED64) {
        values[vi++] = cr.double();
      } else {
        cr.skip(wt);
      }
    }
    tsCount[c] = ti - tsStart[c]!;
    valCount[c] = vi - valStart[c]!;
  }

  return {
    sequence,
    droppedBefore,
    series,
    chunkCount,
    chunkRefs,
    tsStart,
    tsCount,
    valStart,
    valCount,
    timestampsMs,
    values,
    events,
    inventory,
  };
}

/** First pass over one SeriesSamples: how many timestamps and values it holds. */
function countChunk(buf: Uint8Array, start: number, end: number): { ts: number; val: number } {
  const r = new WireReader(buf, start, end);
  let ts = 0;
  let val = 0;
  while (!r.done()) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 0) throw new WireError('field number 0 is invalid');
    if (field === 2 && wt === WT_LEN) {
      const e = r.delimitedEnd();
      if (e > r.pos && (buf[e - 1]! & 0x80) !== 0)
        throw new WireError('packed timestamps_ms ends inside a varint');
      ts += countPackedVarints(buf, r.pos, e);
      r.pos = e;
    } else if (field === 2 && wt === WT_VARINT) {
      r.int64(true);
      ts++;
    } else if (field === 3 && wt === WT_LEN) {
      const e = r.delimitedEnd();
      if ((e - r.pos) % 8 !== 0) throw new WireError('packed values length is not a multiple of 8');
      val += (e - r.pos) / 8;
      r.pos = e;
    } else if (field === 3 && wt === WT_FIXED64) {
      r.skip(wt);
      val++;
    } else {
      r.skip(wt);
    }
  }
  return { ts, val };
}

function safeUint64(n: number, what: string): number {
  if (n > Number.MAX_SAFE_INTEGER) throw new WireError(`${what} exceeds 2^53-1`);
  return n;
}

/** Runs a generated decoder, turning its exceptions into WireError. */
function generated<T>(decode: () => T, what: string): T {
  try {
    return decode();
  } catch (err) {
    throw new WireError(`malformed ${what}: ${(err as Error).message}`);
  }
}

export function decodeHello(buf: Uint8Array): HelloIn {
  const h = generated(() => PbHello.decode(buf), 'Hello');
  return {
    agentId: h.agentId,
    cluster: h.cluster,
    node: h.node,
    version: h.version,
    capabilities: h.capabilities,
  };
}

function seriesDefIn(d: PbSeriesDef): SeriesDefIn {
  return {
    ref: d.ref,
    metric: d.metric,
    source: d.source,
    entity: d.entity,
    labels: d.labels,
    type: metricTypeIn(d.type),
  };
}

function metricTypeIn(t: MetricType): MetricTypeIn {
  switch (t) {
    case MetricType.METRIC_TYPE_UNSPECIFIED:
      return 'unspecified';
    case MetricType.METRIC_TYPE_GAUGE:
      return 'gauge';
    case MetricType.METRIC_TYPE_COUNTER:
      return 'counter';
    default:
      return 'unknown';
  }
}

function severityIn(s: Severity): SeverityIn {
  switch (s) {
    case Severity.SEVERITY_UNSPECIFIED:
      return 'unspecified';
    case Severity.SEVERITY_INFO:
      return 'info';
    case Severity.SEVERITY_WARNING:
      return 'warning';
    case Severity.SEVERITY_ERROR:
      return 'error';
    case Severity.SEVERITY_CRITICAL:
      return 'critical';
    default:
      return 'unknown';
  }
}

function eventIn(e: PbEvent): EventIn {
  return {
    timestampMs: e.timestampMs,
    kind: e.kind,
    severity: severityIn(e.severity),
    source: e.source,
    entity: e.entity,
    message: e.message,
    attributes: e.attributes,
  };
}

function inventoryIn(f: PbInventoryFact): InventoryIn {
  return {
    observedMs: f.observedMs,
    source: f.source,
    entity: f.entity,
    kind: f.kind,
    attributes: f.attributes,
    absent: f.absent,
    absentReason: f.absentReason,
  };
}
