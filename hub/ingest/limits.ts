import { ConfigError } from '../errors.js';

/**
 * What the ingest server enforces. The protocol-visible part is sent to
 * agents in Welcome.limits; docs/protocol.md lists the defaults.
 */
export interface IngestLimits {
  /** Largest gRPC message accepted (grpc max_receive_message_length). */
  readonly maxMessageBytes: number;
  readonly maxSamplesPerBatch: number;
  /** Distinct series refs one stream may define. */
  readonly maxSeriesPerStream: number;
  readonly maxLabelsPerSeries: number;
  /** Longest label value, metric name, source or entity, in UTF-16 code units. */
  readonly maxLabelValueLength: number;
  readonly maxSampleAgeMs: number;
  readonly maxFutureSkewMs: number;
  /** Batches an agent may have sent but not yet seen acknowledged. */
  readonly window: number;
  readonly maxEventsPerBatch: number;
  readonly maxInventoryPerBatch: number;
}

/** Internal tuning of the group-commit writer; not visible to agents. */
export interface WriterLimits {
  /** A commit stops taking batches once it holds this many samples. */
  readonly maxCommitSamples: number;
  /** Batches of one agent per transaction (fairness cap; keep it below the window so the rest stays queued). */
  readonly perAgentBatchesPerTurn: number;
  /** Transactions in flight at once (each on its own connection, if the store pools). */
  readonly concurrentCommits: number;
}

/** Defaults; the hub passes its configuration (AIOPS_INGEST_*, docs/configuration.md) over them. */
export const DEFAULT_INGEST_LIMITS: IngestLimits = {
  maxMessageBytes: 4 * 1024 * 1024,
  maxSamplesPerBatch: 50_000,
  maxSeriesPerStream: 100_000,
  maxLabelsPerSeries: 32,
  maxLabelValueLength: 256,
  maxSampleAgeMs: 7 * 24 * 3600_000,
  maxFutureSkewMs: 5 * 60_000,
  window: 8,
  maxEventsPerBatch: 10_000,
  maxInventoryPerBatch: 10_000,
};

export const DEFAULT_WRITER_LIMITS: WriterLimits = {
  maxCommitSamples: 40_000,
  perAgentBatchesPerTurn: 2,
  // As measured by bench:ingest (4 writer connections, docs/performance.md).
  concurrentCommits: 4,
};

/** Reports every bad setting at once (fail fast at start-up). */
export function validateLimits(limits: IngestLimits, writer: WriterLimits): void {
  const problems: string[] = [];
  const positive = (name: string, v: number, max = Number.MAX_SAFE_INTEGER): void => {
    if (!Number.isInteger(v) || v < 1 || v > max)
      problems.push(`${name} must be an integer in 1..${max} (got ${v})`);
  };
  positive('maxMessageBytes', limits.maxMessageBytes, 2 ** 31 - 1);
  positive('maxSamplesPerBatch', limits.maxSamplesPerBatch, 2 ** 32 - 1);
  positive('maxSeriesPerStream', limits.maxSeriesPerStream, 2 ** 32 - 1);
  positive('maxLabelsPerSeries', limits.maxLabelsPerSeries, 2 ** 32 - 1);
  positive('maxLabelValueLength', limits.maxLabelValueLength, 2 ** 32 - 1);
  positive('maxSampleAgeMs', limits.maxSampleAgeMs);
  positive('maxFutureSkewMs', limits.maxFutureSkewMs);
  positive('window', limits.window, 1024);
  positive('maxEventsPerBatch', limits.maxEventsPerBatch);
  positive('maxInventoryPerBatch', limits.maxInventoryPerBatch);
  positive('maxCommitSamples', writer.maxCommitSamples);
  positive('perAgentBatchesPerTurn', writer.perAgentBatchesPerTurn);
  positive('concurrentCommits', writer.concurrentCommits, 64);
  if (problems.length > 0) throw new ConfigError(problems);
}
