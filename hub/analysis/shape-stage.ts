/**
 * Second stage of the novelty detector: how unusual is the *shape* of the
 * last few samples? An online k-means keeps `prototypes` windows of the last
 * `window` values; the distance from the current window to its nearest
 * prototype, in standard deviations of that distance's own recent history,
 * is the stage's surprise. The detector consults it only when the first
 * stage already sees a new context (where it is unsure), so a shape oddity
 * alone never raises an alert but makes a borderline one clearer.
 *
 * State lives in a slice of the detector's ArrayBuffer so that snapshots stay
 * one byte copy.
 */

export interface ShapeParams {
  /** Samples per window. */
  readonly shapeWindow: number;
  /** Number of k-means prototypes. */
  readonly shapePrototypes: number;
  /** Learning rate of the winning prototype. */
  readonly shapeRate: number;
  /** EW rate of the mean and variance of the nearest distance. */
  readonly shapeMomentAlpha: number;
  /** Rows before the stage gives any surprise. */
  readonly shapeWarmupRows: number;
}

// Float64 slots.
const MEAN = 0;
const VAR = 1;
const SEEDED = 2;
const SLOTS = 3;

/**
 * The window in time order, rebuilt on every row: scratch, not state. One
 * buffer serves every stage (it grows to the largest window seen), which
 * saves each detector a Float64Array and its backing store; sharing is safe
 * because observe() runs to completion synchronously and never re-enters.
 */
let scratch = new Float64Array(8);

export class ShapeStage {
  readonly #p: ShapeParams;
  readonly #s: Float64Array;
  readonly #win: Float32Array;
  readonly #proto: Float32Array;

  /** Bytes this stage needs at `offset` (a multiple of 8) in the detector's buffer. */
  static bytes(p: ShapeParams): number {
    const floats = p.shapeWindow * (1 + p.shapePrototypes);
    return SLOTS * 8 + Math.ceil((floats * 4) / 8) * 8;
  }

  constructor(p: ShapeParams, buffer: ArrayBuffer, offset: number) {
    this.#p = p;
    this.#s = new Float64Array(buffer, offset, SLOTS);
    this.#win = new Float32Array(buffer, offset + SLOTS * 8, p.shapeWindow);
    this.#proto = new Float32Array(
      buffer,
      offset + SLOTS * 8 + p.shapeWindow * 4,
      p.shapeWindow * p.shapePrototypes,
    );
    if (scratch.length < p.shapeWindow) scratch = new Float64Array(p.shapeWindow);
  }

  /**
   * Learns sample `v` (row `n`, from 1) and returns how many standard
   * deviations the current window lies beyond the usual nearest-prototype
   * distance (0 until warm-up is over or when it is closer than usual).
   */
  observe(n: number, v: number): number {
    const p = this.#p;
    const s = this.#s;
    const win = this.#win;
    const w = p.shapeWindow;
    win[(n - 1) % w] = v;
    if (n < w) return 0;
    const proto = this.#proto;
    const cur = scratch;
    const oldest = n % w;
    for (let j = 0; j < w; j++) cur[j] = win[(oldest + j) % w]!;
    const seeded = s[SEEDED]!;
    if (seeded < p.shapePrototypes) {
      // The first windows seed the prototypes.
      proto.set(cur.subarray(0, w), seeded * w);
      s[SEEDED] = seeded + 1;
      return 0;
    }
    let best = Infinity;
    let winner = 0;
    for (let k = 0, base = 0; k < p.shapePrototypes; k++, base += w) {
      let d = 0;
      for (let j = 0; j < w; j++) {
        const e = proto[base + j]! - cur[j]!;
        d += e * e;
      }
      if (d < best) {
        best = d;
        winner = k;
      }
    }
    for (let j = 0, o = winner * w; j < w; j++, o++) {
      const gap = cur[j]! - proto[o]!;
      // Snap when close: repeated tiny steps toward 0 would otherwise reach
      // float32 subnormals, which are many times slower to compute with.
      proto[o] = Math.abs(gap) < 1e-6 ? cur[j]! : proto[o]! + p.shapeRate * gap;
    }
    const dist = Math.sqrt(best);
    const mean = s[MEAN]!;
    const variance = s[VAR]!;
    const z = n > p.shapeWarmupRows ? (dist - mean) / Math.sqrt(variance + 1e-12) : 0;
    const a = p.shapeMomentAlpha;
    const dm = dist - mean;
    s[MEAN] = mean + a * dm;
    s[VAR] = (1 - a) * (variance + a * dm * dm);
    return z > 0 ? z : 0;
  }
}
