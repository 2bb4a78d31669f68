import type { EventRecord, StoredSeries } from '../store/store.js';

/**
 * The bus carries live data from ingest to subscribers (WebSocket clients,
 * detectors). In-process by default; over Redis when several hub replicas run.
 * Publishing happens after a batch is committed, so subscribers never see
 * data that is not durable.
 */
export interface SampleMessage {
  readonly series: StoredSeries;
  readonly timestampsMs: readonly number[];
  readonly values: readonly number[];
}

/** A scored observation of one series, published by analysis (additive: absent from ingest batches). */
export interface AnomalyMessage {
  readonly series: StoredSeries;
  readonly timestampMs: number;
  readonly value: number;
  /** In [0, 1], as the detector returned it. */
  readonly score: number;
  /** Dominant cause when the detector knows it ('spike', 'level_shift', ...). */
  readonly reason?: string;
  readonly detector: string;
}

export interface BusBatch {
  readonly cluster: string;
  readonly samples: readonly SampleMessage[];
  readonly events: readonly EventRecord[];
  /** Anomalies on this cluster's series; ingest leaves it out. */
  readonly anomalies?: readonly AnomalyMessage[];
}

export interface Bus {
  /** Fire-and-forget: a slow or absent subscriber never slows ingest. */
  publish(batch: BusBatch): void;
  /** Subscribe to one cluster's live data ('*' for all); returns an unsubscribe function. */
  subscribe(cluster: string, handler: (batch: BusBatch) => void): () => void;
  close(): Promise<void>;
}
