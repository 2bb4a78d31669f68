/**
 * Context-novelty detector: a cheap online detector for every series.
 *
 * Each sample is normalised to the series' range and quantised into a few
 * "contexts" (its level on two offset grids, on a linear and a logarithmic
 * scale, alone and after the previous level; its step from the previous
 * sample; its level at this time of day). A context never seen before is
 * evidence of an anomaly, worth its surprisal −ln(f) where f is how often
 * that kind of context has recently been new in this series, so a noisy
 * series that keeps producing new contexts pays little for one more, and a
 * settled series pays a lot: the rates calibrate the evidence per series.
 * The evidence (in nats) is squashed to [0, 1]; a rest period then keeps only
 * scores that beat every score of the last `restRows` rows, so one episode
 * gives one alert.
 *
 * Where a row already has some evidence, a second stage (shape-stage.ts)
 * adds more when the shape of the last few samples is far from every shape
 * the series has shown. A second calibration then shifts the evidence by
 * how rarely this series has recently had a row that surprising.
 *
 * All state lives in one ArrayBuffer of fixed size (about 3 KB with the
 * default parameters), so a snapshot is a byte copy; cost per sample is thirteen
 * hash-table probes and one small nearest-prototype search.
 * docs/anomaly-detection.md explains the design.
 */
import { InputError } from '../errors.js';
import type { AnomalyReason, AnomalyVerdict, Detector, DetectorFactory, SeriesHints } from './detector.js';
import { DEFAULT_NOVELTY_PARAMS, type NoveltyParams, validateNoveltyParams } from './novelty-params.js';
import { ShapeStage } from './shape-stage.js';

/** Identifies the snapshot layout; bump when the layout changes. */
const FORMAT_TAG = 0x4e4f5635; // 'NOV5'

// Slots of the Float64 scalar block.
const TAG = 0;
const N = 1;
const MIN = 2;
const MAX = 3;
const FIXED_RANGE = 4;
/** Fingerprint of the parameter set: a snapshot only restores under the same parameters. */
const PARAMS_HASH = 5;
const PREV_X = 6;
const PREV_XL = 7;
const SLOW_MEAN = 8;
const SLOW_VAR = 9;
/** EW fast moments; while an alert is under review, the plain moments of the rows after it. */
const FAST_MEAN = 10;
const FAST_VAR = 11;
const PEAK = 12;
const PEAK_SLOT = 13;
/** EW frequency of rows with at least hotNats of evidence. */
const HOT_RATE = 14;
/** Row of the last alert (reported score ≥ alertScore). */
const LAST_ALERT = 15;
const RATE = 16;

// Context kinds: (scale, tiling, length) for the level contexts, then the step and time-of-day contexts.
const LEVEL_KINDS_PER_TILING = 4; // 2 scales × 2 lengths
const MAX_TILINGS = 4;
const KIND_DELTA = LEVEL_KINDS_PER_TILING * MAX_TILINGS;
const KIND_TOD = KIND_DELTA + 1;
/** One time-of-day kind per scale and tiling, like the level contexts. */
const KINDS = KIND_TOD + 2 * MAX_TILINGS;
const SCALARS = RATE + KINDS;

/**
 * Variance ratios (rows after an alert against the rows before it) that
 * revise an alert's reason to a variance change. Over reviewRows = 10 rows
 * an unchanged variance passes 4× with probability about 10⁻⁵ and falls
 * below ⅛ with about 10⁻³ (χ² with 9 degrees of freedom), so a spike is
 * rarely renamed.
 */
const REVIEW_VAR_UP = 4;
const REVIEW_VAR_DOWN = 1 / 8;
/** Slow SDs the rows after an alert must sit from the old mean to revise its reason to a level shift. */
const REVIEW_SHIFT = 3;

/** Lowest hot-row frequency the second calibration believes (about 1 in 100,000 rows). */
const HOT_RATE_FLOOR = 1e-5;

/** x is clamped below 1 so the top of the range shares the top bin (no special bin for the exact maximum). */
const X_TOP = 0.999999;

/** 32-bit integer finaliser (lowbias32): spreads context keys over the count table. */
function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A 32-bit fingerprint of the parameter values, stored in every snapshot. */
function paramsHash(p: NoveltyParams): number {
  const text = JSON.stringify(Object.entries(p).sort(([a], [b]) => (a < b ? -1 : 1)));
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = mix(h ^ text.charCodeAt(i));
  return h;
}

function layoutBytes(p: NoveltyParams): number {
  return SCALARS * 8 + ShapeStage.bytes(p) + p.restRows * 4 + (1 << p.tableBits);
}

/** One series' detector. Construct through {@link noveltyDetectorFactory}. */
export class NoveltyDetector implements Detector {
  readonly #p: NoveltyParams;
  readonly #logNorm: number;
  readonly #buf: ArrayBuffer;
  readonly #s: Float64Array;
  readonly #ring: Float32Array;
  readonly #counts: Uint8Array;
  readonly #shape: ShapeStage;
  /** Evidence gathered by #probe during one observe call. */
  #info = 0;
  /** This row's value lies beyond the learned range. */
  #outside = false;

  constructor(p: NoveltyParams, hints: SeriesHints = {}, image?: Uint8Array) {
    this.#p = p;
    this.#logNorm = 1 / Math.log1p(p.logK);
    this.#buf = new ArrayBuffer(layoutBytes(p));
    let off = 0;
    this.#s = new Float64Array(this.#buf, off, SCALARS);
    off += SCALARS * 8;
    this.#shape = new ShapeStage(p, this.#buf, off);
    off += ShapeStage.bytes(p);
    this.#ring = new Float32Array(this.#buf, off, p.restRows);
    off += p.restRows * 4;
    this.#counts = new Uint8Array(this.#buf, off, 1 << p.tableBits);
    if (image) {
      if (image.byteLength !== this.#buf.byteLength) {
        throw new InputError(
          `detector snapshot has ${image.byteLength} bytes, expected ${this.#buf.byteLength}`,
        );
      }
      new Uint8Array(this.#buf).set(image);
      if (this.#s[TAG] !== FORMAT_TAG) {
        throw new InputError('not a novelty-detector snapshot (format tag mismatch)');
      }
      if (this.#s[PARAMS_HASH] !== paramsHash(p)) {
        throw new InputError('detector snapshot was written under other parameters');
      }
      return;
    }
    const s = this.#s;
    const { min, max } = hints;
    const fixed =
      min !== undefined && max !== undefined && Number.isFinite(min) && Number.isFinite(max) && max > min;
    s[TAG] = FORMAT_TAG;
    s[FIXED_RANGE] = fixed ? 1 : 0;
    s[MIN] = fixed ? min : Infinity;
    s[MAX] = fixed ? max : -Infinity;
    s[PARAMS_HASH] = paramsHash(p);
    s[PEAK_SLOT] = -1;
    s[LAST_ALERT] = -Infinity;
    s[HOT_RATE] = p.hotRateRef;
    for (let k = 0; k < KINDS; k++) s[RATE + k] = p.rateInit;
  }

  get stateBytes(): number {
    return this.#buf.byteLength;
  }

  snapshot(): Uint8Array {
    return new Uint8Array(this.#buf.slice(0));
  }

  observe(timestampMs: number, value: number): AnomalyVerdict {
    const s = this.#s;
    if (!Number.isFinite(value)) throw new InputError(`value must be finite, got ${value}`);
    if (!Number.isFinite(timestampMs)) throw new InputError(`timestamp must be finite, got ${timestampMs}`);
    const p = this.#p;
    const n = ++s[N]!;
    this.#info = 0;
    this.#outside = false;
    const x = this.#normalise(n, value);
    const xl = Math.log1p(x * p.logK) * this.#logNorm;

    this.#probeLevels(n, x, xl);
    if (n > 1) {
      // The step, paired with the level it lands on: a jump that is ordinary
      // in the middle of the range can be new at its edge.
      const qd = Math.floor(((x - s[PREV_X]! + 1) / 2) * p.deltaLevels);
      this.#probe(KIND_DELTA, qd * 997 + Math.min(p.levels - 1, Math.floor(x * p.levels)));
    }
    if (p.todHours > 0) {
      const hour = (((timestampMs / 3_600_000) % 24) + 24) % 24;
      const bucket = Math.floor(hour / p.todHours) * 131;
      // The level within its time-of-day bucket, on the same scales and
      // grids as the level contexts: a level that is new at this time of day
      // weighs as much as one that is new outright.
      for (let v = 0; v < 2 * p.tilings; v++) {
        const cur = (v & 1) === 0 ? xl : x;
        const offset = (v >> 1) / (p.tilings * p.levels);
        const q = Math.floor((Math.min(cur, X_TOP) + offset) * p.levels);
        this.#probe(KIND_TOD + v, bucket + q + v * 17);
      }
    }
    const prevX = s[PREV_X]!;
    s[PREV_X] = x;
    s[PREV_XL] = xl;

    // Second stage, consulted only where the first is unsure: a window
    // shape far from every learnt prototype adds evidence to a row that
    // already has some. It learns from every row.
    const shapeZ = this.#shape.observe(n, xl);
    if (this.#info > 0 && shapeZ > p.shapeZ) this.#info += (shapeZ - p.shapeZ) * p.shapeNatsPerSd;

    // Second calibration, over rows rather than contexts: how often has
    // this series recently had a row this surprising? A series whose hot
    // rows are rarer than hotRateRef gets up to ln(hotRateRef/HOT_RATE_FLOOR)
    // nats more, one that runs hot gets less (never below 0).
    const hotRate = s[HOT_RATE]!;
    const hot = this.#info >= p.hotNats ? 1 : 0;
    if (this.#info > 0 && p.hotWeight > 0) {
      const shift = p.hotWeight * Math.log(p.hotRateRef / Math.max(hotRate, HOT_RATE_FLOOR));
      this.#info = Math.max(0, this.#info + shift);
    }
    s[HOT_RATE] = hotRate + p.hotRateAlpha * (hot - hotRate);
    // Every row is learnt, but no score is given until warm-up is over.
    const evidence = n > p.warmupRows ? 1 - Math.exp(-this.#info / p.infoScale) : 0;
    const score = this.#rest(n, evidence);
    // The reason is named after the score is fixed and never feeds back into it.
    const reason = score === 0 ? undefined : this.#reason(x, prevX);
    const revised = this.#updateMoments(n, x);
    if (revised !== undefined) {
      const revision = { rowsAgo: p.reviewRows, reason: revised };
      return reason === undefined ? { score, revision } : { score, reason, revision };
    }
    return reason === undefined ? { score: 0 } : { score, reason };
  }

  /**
   * Maps the value into [0, 1] over the known range or, without one, over a
   * learned range: the warm-up rows' range widened by its own span on each
   * side, so that later extremes land in bins the series has never visited
   * (a learned range that simply followed min/max would put every new
   * extreme into the already familiar top bin). A value beyond the learned
   * range counts as new in every level context (#probeLevels) and widens the
   * range by a quarter span more than needed; that rescales the bins, which
   * the novelty rates absorb.
   */
  #normalise(n: number, value: number): number {
    const s = this.#s;
    if (s[FIXED_RANGE] === 0) {
      if (n <= this.#p.warmupRows) {
        if (value < s[MIN]!) s[MIN] = value;
        if (value > s[MAX]!) s[MAX] = value;
        if (n === this.#p.warmupRows) {
          const span = Math.max(s[MAX]! - s[MIN]!, 1e-9 * Math.max(1, Math.abs(s[MAX]!)));
          s[MIN] = s[MIN]! - span;
          s[MAX] = s[MAX]! + span;
        }
      } else if (value < s[MIN]! || value > s[MAX]!) {
        // The widened range applies from the next row on.
        const x = value < s[MIN]! ? 0 : 1;
        this.#outside = true;
        const oldMin = s[MIN]!;
        const oldSpan = s[MAX]! - oldMin;
        const margin = oldSpan / 4;
        if (value < s[MIN]!) s[MIN] = value - margin;
        else s[MAX] = value + margin;
        this.#rescaleMoments(oldMin, oldSpan);
        return x;
      }
    }
    const span = s[MAX]! - s[MIN]!;
    const x = span > 0 ? (value - s[MIN]!) / span : 0.5;
    return x < 0 ? 0 : x > 1 ? 1 : x;
  }

  /**
   * Carries the reason moments over to the widened range, so that rows
   * before and after the widening compare in one scale (a level shift out of
   * the learned range would otherwise shrink to a fraction of its size).
   * Only the reason moments: the contexts keep their bins, as the score's
   * design intends.
   */
  #rescaleMoments(oldMin: number, oldSpan: number): void {
    const s = this.#s;
    const span = s[MAX]! - s[MIN]!;
    const k = oldSpan / span;
    const o = (oldMin - s[MIN]!) / span;
    s[SLOW_MEAN] = s[SLOW_MEAN]! * k + o;
    s[FAST_MEAN] = s[FAST_MEAN]! * k + o;
    s[SLOW_VAR] = s[SLOW_VAR]! * k * k;
    s[FAST_VAR] = s[FAST_VAR]! * k * k;
  }

  /** Level contexts: current level, and previous→current levels, on each scale and grid. */
  #probeLevels(n: number, x: number, xl: number): void {
    const p = this.#p;
    const s = this.#s;
    const lv = p.levels;
    for (let scale = 0; scale < 2; scale++) {
      const cur = scale === 0 ? x : xl;
      const prev = scale === 0 ? s[PREV_X]! : s[PREV_XL]!;
      for (let t = 0; t < p.tilings; t++) {
        const offset = t / (p.tilings * lv);
        const kind = (t * 2 + scale) * 2;
        const seed = scale * 4 + t + 1;
        if (this.#outside) {
          // Beyond everything seen: new in every level context by definition;
          // counting it in the edge bin would make that bin familiar.
          this.#event(kind, true);
          if (n > 1) this.#event(kind + 1, true);
          continue;
        }
        const qCur = Math.floor((Math.min(cur, X_TOP) + offset) * lv);
        this.#probe(kind, seed * (lv + 2) + qCur + 1);
        if (n > 1) {
          const qPrev = Math.floor((Math.min(prev, X_TOP) + offset) * lv);
          this.#probe(kind + 1, (seed * (lv + 2) + qPrev + 1) * (lv + 2) + qCur + 1);
        }
      }
    }
  }

  /** Counts one context; when it is new, adds its surprisal to this row's evidence. */
  #probe(kind: number, key: number): void {
    const counts = this.#counts;
    const idx = mix(key * 31 + kind * 0x9e3779b1) & (counts.length - 1);
    const c = counts[idx]!;
    this.#event(kind, c === 0);
    if (c < 255) counts[idx] = c + 1;
  }

  /** A novel event of a kind is worth −ln(how often that kind has recently been novel). */
  #event(kind: number, novel: boolean): void {
    const s = this.#s;
    const rate = s[RATE + kind]!;
    if (novel) {
      this.#info -= Math.log(rate > this.#p.rateFloor ? rate : this.#p.rateFloor);
      s[RATE + kind] = rate + this.#p.rateAlpha * (1 - rate);
    } else {
      s[RATE + kind] = rate - this.#p.rateAlpha * rate;
    }
  }

  /**
   * Rest period: a score survives only when it beats every score of the last
   * restRows rows. Right after an alert even a bigger surprise is withheld
   * for quietRows rows: the rows next to an alert belong to the same episode,
   * and a second alert there tells the operator nothing new (on NAB such
   * break-throughs within 30 rows were all repeats, a dozen of them false
   * positives, none a new window).
   */
  #rest(n: number, score: number): number {
    const s = this.#s;
    const ring = this.#ring;
    const slot = (n - 1) % ring.length;
    let out = score > s[PEAK]! ? score : 0;
    if (n - s[LAST_ALERT]! <= this.#p.quietRows) out = 0;
    else if (out >= this.#p.alertScore) s[LAST_ALERT] = n;
    ring[slot] = score;
    const stored = ring[slot]!;
    if (stored >= s[PEAK]!) {
      s[PEAK] = stored;
      s[PEAK_SLOT] = slot;
    } else if (slot === s[PEAK_SLOT]) {
      // The old peak just left the window: find the new one (rare, O(restRows)).
      let peak = 0;
      let at = -1;
      for (let i = 0; i < ring.length; i++) {
        if (ring[i]! >= peak) {
          peak = ring[i]!;
          at = i;
        }
      }
      s[PEAK] = peak;
      s[PEAK_SLOT] = at;
    }
    return out;
  }

  /** Names the dominant change, from moments that do not drive the score. */
  #reason(x: number, prevX: number): AnomalyReason {
    const s = this.#s;
    const sd = Math.sqrt(s[SLOW_VAR]!) + 1e-9;
    const z = Math.abs(x - s[SLOW_MEAN]!) / sd;
    const fastShift = Math.abs(s[FAST_MEAN]! - s[SLOW_MEAN]!) / sd;
    const varRatio = (s[FAST_VAR]! + 1e-12) / (s[SLOW_VAR]! + 1e-12);
    const stepZ = Math.abs(x - prevX) / sd;
    if (fastShift > 3) return 'level_shift';
    if (varRatio > 4 || varRatio < 0.25) return 'variance_change';
    if (z > 4 || stepZ > 4) return 'spike';
    return 'new_pattern';
  }

  /**
   * Updates the reason moments; returns a revised reason for the last alert
   * on the row that ends its review. For reviewRows rows after an alert the
   * slow moments stay as they were before it (the reference), and the fast
   * slots hold the plain mean and variance of the rows after the alert row
   * (the alert row itself is left out, so a spike does not look like a
   * variance change). Only rows already observed are used: the revision
   * comes reviewRows rows late, which is the price of telling a level shift
   * from a spike. Afterwards the fast moments carry on from these.
   */
  #updateMoments(n: number, x: number): AnomalyReason | undefined {
    const p = this.#p;
    const s = this.#s;
    if (n === 1) {
      s[SLOW_MEAN] = x;
      s[FAST_MEAN] = x;
      return undefined;
    }
    const since = n - s[LAST_ALERT]!;
    if (since <= p.reviewRows) {
      if (since === 0) return undefined;
      if (since === 1) {
        s[FAST_MEAN] = x;
        s[FAST_VAR] = 0;
      } else {
        // Welford's update of the population mean and variance.
        const d = x - s[FAST_MEAN]!;
        s[FAST_MEAN] = s[FAST_MEAN]! + d / since;
        s[FAST_VAR] = s[FAST_VAR]! + (d * (x - s[FAST_MEAN]!) - s[FAST_VAR]!) / since;
      }
      return since === p.reviewRows ? this.#review() : undefined;
    }
    const d = x - s[SLOW_MEAN]!;
    s[SLOW_MEAN] = s[SLOW_MEAN]! + p.slowAlpha * d;
    s[SLOW_VAR] = (1 - p.slowAlpha) * (s[SLOW_VAR]! + p.slowAlpha * d * d);
    const f = x - s[FAST_MEAN]!;
    s[FAST_MEAN] = s[FAST_MEAN]! + p.fastAlpha * f;
    s[FAST_VAR] = (1 - p.fastAlpha) * (s[FAST_VAR]! + p.fastAlpha * f * f);
    return undefined;
  }

  /**
   * The rows after an alert, against the rows before it: a lasting change of
   * variance or of level renames the alert; otherwise (they look like before:
   * the alert was a passing spike or pattern) its first reason stands.
   */
  #review(): AnomalyReason | undefined {
    const s = this.#s;
    const varRatio = (s[FAST_VAR]! + 1e-12) / (s[SLOW_VAR]! + 1e-12);
    // A wider spread first: its mean wanders, so it can pass for a shift. A
    // narrower one only after the shift test: a series that jumps to a
    // clamped edge of its range goes flat there, and that is a level shift.
    if (varRatio > REVIEW_VAR_UP) return 'variance_change';
    const shift = Math.abs(s[FAST_MEAN]! - s[SLOW_MEAN]!) / (Math.sqrt(s[SLOW_VAR]!) + 1e-9);
    if (shift > REVIEW_SHIFT) return 'level_shift';
    if (varRatio < REVIEW_VAR_DOWN) return 'variance_change';
    return undefined;
  }
}

/**
 * The score at or above which the detector alerts by default (the default
 * `alertScore`): 1 − e^(−E/5) = 0.96 at E ≈ 16.1 nats of evidence, about two
 * contexts new at once in a settled series. Chosen where the NAB standard
 * score, with the alert level set to each threshold, stays within about a
 * point of its best (0.95–0.965; docs/anomaly-detection.md).
 */
export const NOVELTY_DEFAULT_THRESHOLD = DEFAULT_NOVELTY_PARAMS.alertScore;

/** Factory for context-novelty detectors that share one parameter set. */
export function noveltyDetectorFactory(params: NoveltyParams = DEFAULT_NOVELTY_PARAMS): DetectorFactory {
  const p = validateNoveltyParams(params);
  return {
    name: 'aiopsNovelty',
    // The quiet period starts at alertScore, so alerting at any other level
    // would let sub-threshold scores silence real alerts.
    defaultThreshold: p.alertScore,
    create: (hints) => new NoveltyDetector(p, hints),
    restore: (image) => new NoveltyDetector(p, {}, image),
  };
}
