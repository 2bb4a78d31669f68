import { describe, expect, it } from 'vitest';
import { TransitionTracker } from './transitions.js';

describe('TransitionTracker', () => {
  it('reports thermal/power throttling onset and end, not idle or sync boost', () => {
    const t = new TransitionTracker();
    expect(t.clockMask('g', 0x1n, 1, {})).toEqual([]);
    const onset = t.clockMask('g', 0x4n | 0x40n | 0x10n, 2, { gpu: '0' });
    expect(onset.map((e) => [e.kind, e.attributes['reason']])).toEqual([
      ['gpu_throttling_start', 'sw_power_cap'],
      ['gpu_throttling_start', 'hw_thermal_slowdown'],
    ]);
    expect(t.clockMask('g', 0x4n | 0x40n, 3, {})).toEqual([]);
    const end = t.clockMask('g', 0x40n, 4, {});
    expect(end.map((e) => [e.kind, e.attributes['reason'], e.severity])).toEqual([
      ['gpu_throttling_end', 'sw_power_cap', 'info'],
    ]);
  });

  it('reports new double-bit ECC errors, not the count found at start', () => {
    const t = new TransitionTracker();
    expect(t.doubleBitEcc('g', 3, 1, {})).toEqual([]);
    expect(t.doubleBitEcc('g', 3, 2, {})).toEqual([]);
    const [event] = t.doubleBitEcc('g', 5, 3, {});
    expect(event).toMatchObject({
      kind: 'gpu_ecc_double_bit',
      severity: 'critical',
      attributes: { added: '2' },
    });
  });
});
