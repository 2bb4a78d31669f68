import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff.js';

describe('Backoff', () => {
  it('doubles the cap per attempt up to the maximum, with jitter in the upper half', () => {
    const lo = new Backoff(100, 1000, () => 0);
    const hi = new Backoff(100, 1000, () => 1);
    expect([1, 2, 3, 4, 5, 6].map(() => lo.nextDelayMs())).toEqual([50, 100, 200, 400, 500, 500]);
    expect([1, 2, 3, 4, 5, 6].map(() => hi.nextDelayMs())).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('starts over after reset', () => {
    const b = new Backoff(100, 1000, () => 1);
    b.nextDelayMs();
    b.nextDelayMs();
    b.reset();
    expect(b.nextDelayMs()).toBe(100);
  });
});
