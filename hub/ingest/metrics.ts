import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The ingest server's own metrics, registered on the registry the hub passes in. */
export interface IngestMetrics {
  readonly batchesReceived: Counter<'rpc'>;
  readonly samplesReceived: Counter<'rpc'>;
  readonly batchesStored: Counter;
  readonly samplesStored: Counter;
  readonly eventsStored: Counter;
  readonly inventoryStored: Counter;
  readonly duplicates: Counter;
  readonly rejections: Counter<'reason'>;
  readonly streamErrors: Counter<'code'>;
  readonly commitSeconds: Histogram;
  readonly commitBatches: Histogram;
  readonly activeStreams: Gauge;
  readonly queuedBatches: Gauge;
}

export function createIngestMetrics(registry: Registry): IngestMetrics {
  const registers = [registry];
  return {
    batchesReceived: new Counter({
      name: 'aiops_ingest_batches_received_total',
      help: 'Batches received from agents (before validation and deduplication).',
      labelNames: ['rpc'],
      registers,
    }),
    samplesReceived: new Counter({
      name: 'aiops_ingest_samples_received_total',
      help: 'Samples received from agents (before validation and deduplication).',
      labelNames: ['rpc'],
      registers,
    }),
    batchesStored: new Counter({
      name: 'aiops_ingest_batches_stored_total',
      help: 'Batches committed to the store.',
      registers,
    }),
    samplesStored: new Counter({
      name: 'aiops_ingest_samples_stored_total',
      help: 'Samples committed to the store.',
      registers,
    }),
    eventsStored: new Counter({
      name: 'aiops_ingest_events_stored_total',
      help: 'Events committed to the store.',
      registers,
    }),
    inventoryStored: new Counter({
      name: 'aiops_ingest_inventory_stored_total',
      help: 'Inventory facts committed to the store.',
      registers,
    }),
    duplicates: new Counter({
      name: 'aiops_ingest_duplicate_batches_total',
      help: 'Redelivered batches acknowledged without writing (already stored).',
      registers,
    }),
    rejections: new Counter({
      name: 'aiops_ingest_rejections_total',
      help: 'Samples, series, events or facts refused, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    streamErrors: new Counter({
      name: 'aiops_ingest_call_errors_total',
      help: 'Ingest calls ended with a non-OK gRPC status, by status code name.',
      labelNames: ['code'],
      registers,
    }),
    commitSeconds: new Histogram({
      name: 'aiops_ingest_commit_duration_seconds',
      help: 'Time to commit one group-commit transaction.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    commitBatches: new Histogram({
      name: 'aiops_ingest_commit_batches',
      help: 'Batches per group-commit transaction.',
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers,
    }),
    activeStreams: new Gauge({
      name: 'aiops_ingest_active_streams',
      help: 'Open agent streams.',
      registers,
    }),
    queuedBatches: new Gauge({
      name: 'aiops_ingest_queued_batches',
      help: 'Validated batches waiting for a commit.',
      registers,
    }),
  };
}
