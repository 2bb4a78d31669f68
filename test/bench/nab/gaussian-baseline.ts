/**
 * Baseline for the benchmark: a Gaussian tail score against exponentially
 * weighted moments (the idea behind NAB's "windowed Gaussian", 39.6), so
 * every run prints our detector beside a simple one measured the same way.
 */
import type { AnomalyVerdict, Detector, DetectorFactory } from '../../../hub/analysis/detector.js';

const ALPHA = 0.01;
const WARMUP_ROWS = 20;

/** P(|Z| > z) for a standard normal Z, via the Abramowitz–Stegun 7.1.26 erfc. */
function twoSidedTail(z: number): number {
  const x = z / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return poly * Math.exp(-x * x);
}

class GaussianBaseline implements Detector {
  readonly #s: Float64Array;
  constructor(image?: Uint8Array) {
    this.#s = image ? new Float64Array(image.slice().buffer) : new Float64Array(3);
  }
  get stateBytes(): number {
    return this.#s.byteLength;
  }
  snapshot(): Uint8Array {
    return new Uint8Array(this.#s.slice().buffer);
  }
  observe(_timestampMs: number, value: number): AnomalyVerdict {
    const s = this.#s;
    const n = ++s[0]!;
    if (n === 1) {
      s[1] = value;
      return { score: 0 };
    }
    const d = value - s[1]!;
    const z = Math.abs(d) / Math.sqrt(s[2]! + 1e-12);
    s[1] = s[1]! + ALPHA * d;
    s[2] = (1 - ALPHA) * (s[2]! + ALPHA * d * d);
    return { score: n > WARMUP_ROWS ? 1 - twoSidedTail(z) : 0 };
  }
}

export const gaussianBaselineFactory: DetectorFactory = {
  name: 'ewGaussian',
  defaultThreshold: 0.9999,
  create: () => new GaussianBaseline(),
  restore: (image) => new GaussianBaseline(image),
};
