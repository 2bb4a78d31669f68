/**
 * Scores detector runs with the NAB scorer: the three profiles at their
 * corpus-optimised thresholds, any fixed threshold, and per-category figures.
 */
import type { DetectorRun } from './run-detector.js';
import {
  type NabProfile,
  type PreparedFile,
  type SweepResult,
  normalise,
  optimiseThreshold,
  prepareFile,
  scoreFile,
} from './scorer.js';

export interface ScoredRun extends DetectorRun {
  readonly prepared: PreparedFile;
}

export function prepareRuns(runs: readonly DetectorRun[]): ScoredRun[] {
  return runs.map((r) => ({ ...r, prepared: prepareFile(r.file) }));
}

export function optimise(runs: readonly ScoredRun[], profile: NabProfile): SweepResult {
  return optimiseThreshold(runs, profile);
}

/** Normalised corpus score at a fixed threshold. */
export function scoreAt(runs: readonly ScoredRun[], profile: NabProfile, threshold: number): number {
  let raw = 0;
  let windows = 0;
  for (const r of runs) {
    raw += scoreFile(r.prepared, r.scores, threshold, profile).raw;
    windows += r.file.windows.length;
  }
  return normalise(raw, profile, windows);
}

export interface CategoryRow {
  readonly category: string;
  readonly files: number;
  readonly windows: number;
  readonly tp: number;
  readonly fn: number;
  readonly fp: number;
  readonly raw: number;
  /** Normalised like the corpus score, over this category's windows; NaN where there are none. */
  readonly score: number;
}

export function byCategory(
  runs: readonly ScoredRun[],
  profile: NabProfile,
  threshold: number,
): CategoryRow[] {
  const rows = new Map<
    string,
    { files: number; windows: number; tp: number; fn: number; fp: number; raw: number }
  >();
  for (const r of runs) {
    const s = scoreFile(r.prepared, r.scores, threshold, profile);
    const row = rows.get(r.file.category) ?? { files: 0, windows: 0, tp: 0, fn: 0, fp: 0, raw: 0 };
    row.files++;
    row.windows += r.file.windows.length;
    row.tp += s.tp;
    row.fn += s.fn;
    row.fp += s.fp;
    row.raw += s.raw;
    rows.set(r.file.category, row);
  }
  return [...rows]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([category, row]) => ({ category, ...row, score: normalise(row.raw, profile, row.windows) }));
}
