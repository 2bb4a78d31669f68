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

export interface BusBatch {
  readonly cluster: string;
  readonly samples: readonly SampleMessage[];
  readonly events: readonly EventRecord[];
}

export interface Bus {
  /** Fire-and-forget: a slow or absent subscriber never slows ingest. */
  publish(batch: BusBatch): void;
  /** Subscribe to one cluster's live data ('*' for all); returns an unsubscribe function. */
  subscribe(cluster: string, handler: (batch: BusBatch) => void): () => void;
  close(): Promise<void>;
}
