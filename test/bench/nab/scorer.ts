/**
 * NAB scorer, written from the method in test/fixtures/nab/SOURCES.md (NAB
 * v1.1): windows, probation, the scaled sigmoid, three cost profiles,
 * null/perfect normalisation and an exhaustive corpus-wide threshold sweep.
 * It is independent of any detector: it sees only per-row scores.
 */

/** A NAB cost profile (`config/profiles.json`). */
export interface NabProfile {
  readonly name: string;
  readonly tpWeight: number;
  readonly fpWeight: number;
  readonly fnWeight: number;
}

export const NAB_PROFILES: readonly NabProfile[] = [
  { name: 'standard', tpWeight: 1.0, fpWeight: 0.11, fnWeight: 1.0 },
  { name: 'reward_low_FP_rate', tpWeight: 1.0, fpWeight: 0.22, fnWeight: 1.0 },
  { name: 'reward_low_FN_rate', tpWeight: 1.0, fpWeight: 0.11, fnWeight: 2.0 },
];

/** One scored file: its row count, inclusive label windows as row indices, and a category for reports. */
export interface NabFileLabels {
  readonly name: string;
  readonly category: string;
  readonly rows: number;
  /** Inclusive `[startRow, endRow]`, sorted and disjoint. */
  readonly windows: ReadonlyArray<readonly [number, number]>;
}

/** NAB's scaled sigmoid: 2/(1+e^(5y)) − 1, and −1 beyond three window widths. */
export function scaledSigmoid(y: number): number {
  if (y > 3) return -1;
  return 2 / (1 + Math.exp(5 * y)) - 1;
}

const MAX_TP = scaledSigmoid(-1);

/** Rows of probation: `min(floor(0.15·rows), 0.15·5000)`. */
export function probationRows(rows: number): number {
  return Math.min(Math.floor(0.15 * rows), 750);
}

/**
 * Per-row scoring facts of one file, independent of profile: for each scored
 * (post-probation) row, the window it falls in (−1 if none), the unweighted
 * TP value (σ(y)/σ(−1), multiplied by A_TP later) or the unweighted FP value
 * (σ(y) ≤ 0, multiplied by A_FP later).
 */
export interface PreparedFile {
  readonly labels: NabFileLabels;
  readonly firstScoredRow: number;
  /** Indexed by row; meaningful from firstScoredRow on. */
  readonly windowOfRow: Int32Array;
  readonly unitValue: Float64Array;
}

export function prepareFile(labels: NabFileLabels): PreparedFile {
  const { rows, windows } = labels;
  const windowOfRow = new Int32Array(rows).fill(-1);
  const unitValue = new Float64Array(rows);
  let w = 0;
  let prevRight = -1;
  let prevWidth = 0;
  for (let i = 0; i < rows; i++) {
    while (w < windows.length && windows[w]![1] < i) {
      prevRight = windows[w]![1];
      prevWidth = windows[w]![1] - windows[w]![0] + 1;
      w++;
    }
    const cur = windows[w];
    if (cur && i >= cur[0] && i <= cur[1]) {
      const width = cur[1] - cur[0] + 1;
      windowOfRow[i] = w;
      unitValue[i] = scaledSigmoid(-(cur[1] - i + 1) / width) / MAX_TP;
    } else if (prevRight >= 0) {
      // A one-row window has width−1 = 0: any later row is "far" after it.
      const y = prevWidth > 1 ? (i - prevRight) / (prevWidth - 1) : Infinity;
      unitValue[i] = scaledSigmoid(y);
    } else {
      unitValue[i] = -1;
    }
  }
  return { labels, firstScoredRow: probationRows(rows), windowOfRow, unitValue };
}

/** Raw score of one profile plus the confusion counts behind it. */
export interface RawScore {
  raw: number;
  tp: number;
  fp: number;
  fn: number;
}

/** Scores that normalise a raw score: a detector that never fires, and a perfect one. */
export function nullRaw(profile: NabProfile, windows: number): number {
  return -profile.fnWeight * windows;
}
export function perfectRaw(profile: NabProfile, windows: number): number {
  return profile.tpWeight * windows;
}

/** 100·(raw − null)/(perfect − null); NaN when there are no windows to normalise by. */
export function normalise(raw: number, profile: NabProfile, windows: number): number {
  const lo = nullRaw(profile, windows);
  const hi = perfectRaw(profile, windows);
  return hi === lo ? Number.NaN : (100 * (raw - lo)) / (hi - lo);
}

/** Raw score of one file at a fixed threshold (a row detects when score ≥ threshold). */
export function scoreFile(
  prepared: PreparedFile,
  scores: ArrayLike<number>,
  threshold: number,
  profile: NabProfile,
): RawScore {
  const { labels, firstScoredRow, windowOfRow, unitValue } = prepared;
  if (scores.length !== labels.rows) {
    throw new RangeError(`${labels.name}: ${scores.length} scores for ${labels.rows} rows`);
  }
  const detected = new Uint8Array(labels.windows.length);
  let raw = 0;
  let tp = 0;
  let fp = 0;
  for (let i = firstScoredRow; i < labels.rows; i++) {
    if (!(scores[i]! >= threshold)) continue;
    const w = windowOfRow[i]!;
    if (w >= 0) {
      // Rows run forward, so the first detection in a window is its earliest and best.
      if (!detected[w]) {
        detected[w] = 1;
        raw += profile.tpWeight * unitValue[i]!;
        tp++;
      }
    } else {
      raw += profile.fpWeight * unitValue[i]!;
      fp++;
    }
  }
  const fn = labels.windows.length - tp;
  raw -= profile.fnWeight * fn;
  return { raw, tp, fp, fn };
}

/** Result of the corpus-wide threshold sweep for one profile. */
export interface SweepResult {
  readonly profile: NabProfile;
  /** Best threshold; +Infinity when never alerting is best. */
  readonly threshold: number;
  readonly raw: number;
  readonly score: number;
}

/**
 * Exhaustive threshold optimisation across the corpus (NAB ≥ 1.1): every
 * distinct score is a candidate; detections are rows with score ≥ candidate.
 * Ties go to the higher threshold. O(n log n) in the number of scored rows.
 */
export function optimiseThreshold(
  files: ReadonlyArray<{ prepared: PreparedFile; scores: ArrayLike<number> }>,
  profile: NabProfile,
): SweepResult {
  let n = 0;
  let windowsTotal = 0;
  for (const f of files) {
    if (f.scores.length !== f.prepared.labels.rows) {
      throw new RangeError(
        `${f.prepared.labels.name}: ${f.scores.length} scores for ${f.prepared.labels.rows} rows`,
      );
    }
    n += f.prepared.labels.rows - f.prepared.firstScoredRow;
    windowsTotal += f.prepared.labels.windows.length;
  }
  const score = new Float64Array(n);
  const win = new Int32Array(n);
  const unit = new Float64Array(n);
  let k = 0;
  let windowBase = 0;
  for (const f of files) {
    const p = f.prepared;
    for (let i = p.firstScoredRow; i < p.labels.rows; i++, k++) {
      const s = f.scores[i]!;
      if (Number.isNaN(s)) throw new RangeError(`${p.labels.name}: NaN score at row ${i}`);
      score[k] = s;
      const w = p.windowOfRow[i]!;
      win[k] = w >= 0 ? windowBase + w : -1;
      unit[k] = p.unitValue[i]!;
    }
    windowBase += p.labels.windows.length;
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => score[b]! - score[a]!);

  const best = new Float64Array(windowsTotal).fill(Number.NaN);
  let raw = nullRaw(profile, windowsTotal);
  let bestRaw = raw;
  let bestThreshold = Number.POSITIVE_INFINITY;
  for (let j = 0; j < n;) {
    const t = score[order[j]!]!;
    // Take every row with this exact score before evaluating the candidate.
    for (; j < n && score[order[j]!] === t; j++) {
      const idx = order[j]!;
      const w = win[idx]!;
      if (w >= 0) {
        const v = profile.tpWeight * unit[idx]!;
        const prev = best[w]!;
        if (Number.isNaN(prev)) {
          best[w] = v;
          raw += profile.fnWeight + v;
        } else if (v > prev) {
          best[w] = v;
          raw += v - prev;
        }
      } else {
        raw += profile.fpWeight * unit[idx]!;
      }
    }
    if (raw > bestRaw) {
      bestRaw = raw;
      bestThreshold = t;
    }
  }
  return {
    profile,
    threshold: bestThreshold,
    raw: bestRaw,
    score: normalise(bestRaw, profile, windowsTotal),
  };
}
