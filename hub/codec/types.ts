/**
 * Plain TypeScript shapes of the ingest messages as the hub sees them after
 * decoding. hub/ingest works with these only; hub/codec is the one place that
 * knows the generated protobuf types.
 */

export interface LabelIn {
  readonly name: string;
  readonly value: string;
}

export interface HelloIn {
  readonly agentId: string;
  readonly cluster: string;
  readonly node: string;
  readonly version: string;
  readonly capabilities: readonly string[];
}

/** 'unspecified' is what an agent sends when it leaves the field unset. */
export type MetricTypeIn = 'unspecified' | 'gauge' | 'counter' | 'unknown';
export type SeverityIn = 'unspecified' | 'info' | 'warning' | 'error' | 'critical' | 'unknown';

export interface SeriesDefIn {
  readonly ref: number;
  readonly metric: string;
  readonly source: string;
  readonly entity: string;
  readonly labels: readonly LabelIn[];
  readonly type: MetricTypeIn;
}

export interface EventIn {
  readonly timestampMs: number;
  readonly kind: string;
  readonly severity: SeverityIn;
  readonly source: string;
  readonly entity: string;
  readonly message: string;
  readonly attributes: readonly LabelIn[];
}

export interface InventoryIn {
  readonly observedMs: number;
  readonly source: string;
  readonly entity: string;
  readonly kind: string;
  readonly attributes: readonly LabelIn[];
  readonly absent: boolean;
  readonly absentReason: string;
}

/**
 * A decoded Batch with its samples in columnar form. Chunk i (one
 * SeriesSamples message) has ref chunkRefs[i]; its timestamps are
 * timestampsMs[tsStart[i] .. tsStart[i]+tsCount[i]) and its values
 * values[valStart[i] .. valStart[i]+valCount[i]). Counts differ only when the
 * agent sent mismatched arrays.
 */
export interface DecodedBatch {
  readonly sequence: number;
  readonly droppedBefore: number;
  readonly series: readonly SeriesDefIn[];
  readonly chunkCount: number;
  readonly chunkRefs: Uint32Array;
  readonly tsStart: Uint32Array;
  readonly tsCount: Uint32Array;
  readonly valStart: Uint32Array;
  readonly valCount: Uint32Array;
  readonly timestampsMs: Float64Array;
  readonly values: Float64Array;
  readonly events: readonly EventIn[];
  readonly inventory: readonly InventoryIn[];
}

export type StreamRequestIn =
  | { readonly kind: 'hello'; readonly hello: HelloIn }
  | { readonly kind: 'batch'; readonly batch: DecodedBatch }
  | { readonly kind: 'empty' };

export interface PushRequestIn {
  readonly hello: HelloIn | undefined;
  readonly batch: DecodedBatch | undefined;
}

export type RejectReasonName =
  | 'non_finite_value'
  | 'timestamp_too_old'
  | 'timestamp_in_future'
  | 'unknown_series_ref'
  | 'invalid_series'
  | 'too_many_series'
  | 'too_many_labels'
  | 'label_too_long'
  | 'mismatched_lengths'
  | 'invalid_event'
  | 'invalid_inventory';

export interface RejectionOut {
  readonly reason: RejectReasonName;
  readonly count: number;
  readonly example: string;
}

export interface BatchResultOut {
  readonly samplesStored: number;
  readonly eventsStored: number;
  readonly inventoryStored: number;
  readonly rejections: readonly RejectionOut[];
}

export interface LimitsOut {
  readonly maxMessageBytes: number;
  readonly maxSamplesPerBatch: number;
  readonly maxSeriesPerStream: number;
  readonly maxLabelsPerSeries: number;
  readonly maxLabelValueLength: number;
  readonly maxSampleAgeMs: number;
  readonly maxFutureSkewMs: number;
}

export interface CollectorConfigOut {
  readonly name: string;
  readonly enabled: boolean;
  readonly intervalMs: number;
}

export type StreamResponseOut =
  | {
      readonly kind: 'welcome';
      readonly lastAckedSequence: number;
      readonly window: number;
      readonly limits: LimitsOut;
      readonly collectors: readonly CollectorConfigOut[];
    }
  | {
      readonly kind: 'ack';
      readonly sequence: number;
      readonly window: number;
      readonly result: BatchResultOut;
      readonly duplicate: boolean;
    }
  | { readonly kind: 'config'; readonly collectors: readonly CollectorConfigOut[] };

export interface PushResponseOut {
  readonly ackedSequence: number;
  readonly result: BatchResultOut;
  readonly duplicate: boolean;
}
