/**
 * The contract every online anomaly detector of the hub fulfils. One Detector
 * instance watches one series; a DetectorFactory makes them with one shared
 * parameter set (no per-series tuning).
 */

/** Why a score is high, when the detector can tell. */
export type AnomalyReason = 'spike' | 'level_shift' | 'variance_change' | 'new_pattern';

/** The verdict on one observation. */
export interface AnomalyVerdict {
  /** In [0, 1]; 0 while the detector is still learning (no verdict yet). */
  readonly score: number;
  /** Present when score > 0 and a dominant cause is known. */
  readonly reason?: AnomalyReason;
  /**
   * A corrected reason for an earlier alert, decided from the rows that
   * followed it (on its own row a level shift looks like a spike). Present
   * only on the row where the detector makes the correction; `rowsAgo`
   * counts back from this row to the alert's.
   */
  readonly revision?: { readonly rowsAgo: number; readonly reason: AnomalyReason };
}

/** What may be known about a series before its first sample (NAB allows min/max per file). */
export interface SeriesHints {
  /** Expected range; values outside it are clamped for the model and still count as surprising. */
  readonly min?: number;
  readonly max?: number;
}

/**
 * An online detector for one series.
 *
 * Contract:
 * - `observe` is called once per sample, in arrival order; it sees only the
 *   past (no look-ahead) and returns the score of this sample. Timestamps
 *   are context (time of day), not an ordering key: real feeds (NAB's
 *   included) have the odd sample out of order, and it is scored as it comes.
 * - A non-finite value or timestamp is rejected with an InputError
 *   (hub/errors.ts) and leaves the state as it was.
 * - State is bounded: `stateBytes` never grows with the number of samples.
 * - `snapshot()` captures the whole state; a detector restored from it
 *   (`DetectorFactory.restore`) returns exactly the scores the original
 *   would have returned for the same subsequent samples.
 * - Deterministic: the same samples give the same scores.
 */
export interface Detector {
  observe(timestampMs: number, value: number): AnomalyVerdict;
  /** Compact binary image of the whole state (versioned). */
  snapshot(): Uint8Array;
  /** Size of the state in bytes (the snapshot's length). */
  readonly stateBytes: number;
}

/** Makes detectors that share one parameter set, and restores them from snapshots. */
export interface DetectorFactory {
  /** Name used in reports and NAB result files. */
  readonly name: string;
  /** The score at or above which the detector's own alerting fires by default. */
  readonly defaultThreshold: number;
  create(hints?: SeriesHints): Detector;
  /** Throws InputError when the snapshot is not one this factory wrote. */
  restore(snapshot: Uint8Array): Detector;
}
