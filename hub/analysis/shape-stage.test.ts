import { describe, expect, it } from 'vitest';
import { DEFAULT_NOVELTY_PARAMS } from './novelty-params.js';
import { ShapeStage } from './shape-stage.js';

const P = DEFAULT_NOVELTY_PARAMS;

/** A repeating 12-sample ramp with a little deterministic jitter. */
const ramp = (i: number): number => (i % 12) / 12 + 0.01 * Math.sin(i * 1.7);

describe('ShapeStage', () => {
  it('stays within its slice of the buffer', () => {
    const bytes = ShapeStage.bytes(P);
    expect(bytes % 8).toBe(0);
    const buffer = new ArrayBuffer(bytes + 16);
    const all = new Uint8Array(buffer);
    all.fill(0xab);
    const stage = new ShapeStage(P, buffer, 8);
    for (let i = 1; i <= 500; i++) stage.observe(i, ramp(i));
    expect([...all.subarray(0, 8)].every((b) => b === 0xab)).toBe(true);
    expect([...all.subarray(8 + bytes)].every((b) => b === 0xab)).toBe(true);
  });

  it('finds a familiar shape unsurprising and a new one surprising', () => {
    const buffer = new ArrayBuffer(ShapeStage.bytes(P));
    const stage = new ShapeStage(P, buffer, 0);
    let n = 0;
    for (let i = 0; i < 3000; i++) stage.observe(++n, ramp(i));
    const familiar: number[] = [];
    for (let i = 3000; i < 3012; i++) familiar.push(stage.observe(++n, ramp(i)));
    expect(Math.max(...familiar)).toBeLessThan(3);
    // The series flips between its extremes: same range, a shape never seen.
    const flipping: number[] = [];
    for (let i = 0; i < 8; i++) flipping.push(stage.observe(++n, i % 2));
    expect(Math.max(...flipping)).toBeGreaterThan(3);
  });

  it('gives the same surprises when stages of other window sizes run in between (shared scratch)', () => {
    const run = (interleave: boolean): number[] => {
      const stage = new ShapeStage(P, new ArrayBuffer(ShapeStage.bytes(P)), 0);
      // Created after `stage`, so the shared scratch grows past its window.
      const wide = { ...P, shapeWindow: 20 };
      const other = new ShapeStage(wide, new ArrayBuffer(ShapeStage.bytes(wide)), 0);
      const out: number[] = [];
      for (let i = 1; i <= 1500; i++) {
        if (interleave) other.observe(i, 1 - ramp(i * 3));
        out.push(stage.observe(i, i > 1200 ? i % 2 : ramp(i)));
      }
      return out;
    };
    const alone = run(false);
    expect(alone.some((z) => z > 3)).toBe(true);
    expect(run(true)).toEqual(alone);
  });

  it('gives no surprise during warm-up', () => {
    const stage = new ShapeStage(P, new ArrayBuffer(ShapeStage.bytes(P)), 0);
    for (let i = 1; i <= P.shapeWarmupRows; i++) expect(stage.observe(i, i % 2 === 0 ? 0 : 1)).toBe(0);
  });
});
