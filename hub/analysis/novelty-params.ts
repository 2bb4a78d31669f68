/**
 * The one parameter set of the context-novelty detector, shared by every
 * series (no per-series tuning). docs/anomaly-detection.md gives the reasoning
 * behind each value and how sensitive the NAB score is to it.
 */
import { ConfigError } from '../errors.js';
import type { ShapeParams } from './shape-stage.js';

export interface NoveltyParams extends ShapeParams {
  /** Rows before any score is given (the model has nothing to compare against yet). */
  readonly warmupRows: number;
  /** Quantisation levels over the series' range. */
  readonly levels: number;
  /** Grids offset by 1/(tilings·levels) from each other, so a boundary of one is mid-bin in the next. */
  readonly tilings: number;
  /** Strength of the logarithmic view that magnifies the low end of the range (heavy-tailed counts, bytes). */
  readonly logK: number;
  /** Levels of the step x[t] − x[t−1] in the step-context. */
  readonly deltaLevels: number;
  /** Hours per time-of-day bucket in the time-context; 0 disables it. */
  readonly todHours: number;
  /** log2 of the number of one-byte cells in the context-count table. */
  readonly tableBits: number;
  /** EW rate at which each context kind's novelty frequency adapts. */
  readonly rateAlpha: number;
  /** Novelty frequency every kind starts with. */
  readonly rateInit: number;
  /** Floor of that frequency: caps the surprisal of one novel context at −ln(rateFloor). */
  readonly rateFloor: number;
  /** Nats of evidence that map to score 1 − 1/e. */
  readonly infoScale: number;
  /** After a score, later rows are reported only when they beat every score of this many rows. */
  readonly restRows: number;
  /** Rows after an alert (a reported score of at least alertScore) during which no score is reported at all. */
  readonly quietRows: number;
  /**
   * The alert level: the factory's default threshold, and the score that
   * starts a quiet period. An operator who alerts at another level sets it
   * here, so that the quiet period follows the alerts actually raised.
   */
  readonly alertScore: number;
  /** Shape surprise (in SDs of the nearest-prototype distance) above which the second stage adds evidence. */
  readonly shapeZ: number;
  /** Nats of evidence per SD of shape surprise above shapeZ. */
  readonly shapeNatsPerSd: number;
  /** Evidence (nats) from which a row counts as hot for the second calibration. */
  readonly hotNats: number;
  /** EW rate of the hot-row frequency (its memory is about 1/hotRateAlpha rows). */
  readonly hotRateAlpha: number;
  /** Hot-row frequency at which the second calibration neither adds nor removes evidence; also its start value. */
  readonly hotRateRef: number;
  /** Nats added per unit of ln(hotRateRef / hot-row frequency); 0 disables the second calibration. */
  readonly hotWeight: number;
  /** EW rates of the slow and fast moments used only to name the reason of an alert. */
  readonly slowAlpha: number;
  readonly fastAlpha: number;
  /** Rows after an alert whose moments decide whether its reason is revised (to level shift or variance change). */
  readonly reviewRows: number;
}

export const DEFAULT_NOVELTY_PARAMS: NoveltyParams = {
  warmupRows: 20,
  levels: 8,
  tilings: 2,
  logK: 30,
  deltaLevels: 16,
  todHours: 3,
  tableBits: 11,
  rateAlpha: 0.0015,
  rateInit: 0.05,
  rateFloor: 0.0003,
  infoScale: 5,
  restRows: 100,
  quietRows: 20,
  alertScore: 0.96,
  shapeWindow: 8,
  shapePrototypes: 8,
  shapeRate: 0.05,
  shapeMomentAlpha: 0.01,
  shapeWarmupRows: 100,
  shapeZ: 3,
  shapeNatsPerSd: 1,
  hotNats: 14,
  hotRateAlpha: 0.0005,
  hotRateRef: 0.002,
  hotWeight: 1,
  slowAlpha: 0.01,
  fastAlpha: 0.1,
  reviewRows: 10,
};

/** Reports every problem at once, as config errors do elsewhere in the hub. */
export function validateNoveltyParams(p: NoveltyParams): NoveltyParams {
  const problems: string[] = [];
  const int = (name: keyof NoveltyParams, lo: number, hi: number): void => {
    const v = p[name];
    if (!Number.isInteger(v) || v < lo || v > hi)
      problems.push(`${name} must be an integer in [${lo}, ${hi}], got ${v}`);
  };
  const frac = (name: keyof NoveltyParams): void => {
    const v = p[name];
    if (!(v > 0 && v < 1)) problems.push(`${name} must be in (0, 1), got ${v}`);
  };
  int('warmupRows', 1, 1_000_000);
  int('levels', 2, 64);
  int('tilings', 1, 4);
  int('deltaLevels', 2, 256);
  int('tableBits', 6, 16);
  int('restRows', 1, 10_000);
  int('quietRows', 0, 10_000);
  int('shapeWindow', 2, 64);
  int('shapePrototypes', 1, 64);
  int('shapeWarmupRows', 0, 1_000_000);
  int('reviewRows', 2, 10_000);
  if (!(p.shapeZ >= 0)) problems.push(`shapeZ must be >= 0, got ${p.shapeZ}`);
  if (!(p.shapeNatsPerSd >= 0)) problems.push(`shapeNatsPerSd must be >= 0, got ${p.shapeNatsPerSd}`);
  if (!(p.todHours >= 0 && p.todHours <= 24)) problems.push(`todHours must be in [0, 24], got ${p.todHours}`);
  if (!(p.hotNats > 0)) problems.push(`hotNats must be > 0, got ${p.hotNats}`);
  if (!(p.hotWeight >= 0)) problems.push(`hotWeight must be >= 0, got ${p.hotWeight}`);
  if (!(p.logK > 0)) problems.push(`logK must be > 0, got ${p.logK}`);
  for (const f of [
    'rateAlpha',
    'rateInit',
    'rateFloor',
    'slowAlpha',
    'fastAlpha',
    'shapeRate',
    'shapeMomentAlpha',
    'hotRateAlpha',
    'hotRateRef',
    'alertScore',
  ] as const)
    frac(f);
  for (const f of ['infoScale'] as const) if (!(p[f] > 0)) problems.push(`${f} must be > 0, got ${p[f]}`);
  if (problems.length > 0) throw new ConfigError(problems);
  return p;
}
