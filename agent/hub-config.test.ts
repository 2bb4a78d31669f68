import { describe, expect, it } from 'vitest';
import { batchCapsOf, planHubConfig } from './hub-config.js';

const local = [
  { name: 'host', intervalMs: 10_000 },
  { name: 'gpu', intervalMs: 10_000 },
];
const known = ['host', 'gpu', 'ptp', 'sriov'];

describe('planHubConfig', () => {
  it('applies intervals and disables; collectors left out go back to their local settings', () => {
    const { plan, problems } = planHubConfig([{ name: 'gpu', enabled: false, intervalMs: 0 }], local, known);
    expect(problems).toEqual([]);
    expect(plan).toEqual([
      { name: 'host', enabled: true, intervalMs: 10_000 },
      { name: 'gpu', enabled: false, intervalMs: 10_000 },
    ]);
    expect(planHubConfig([{ name: 'host', enabled: true, intervalMs: 2000 }], local, known).plan[0]).toEqual({
      name: 'host',
      enabled: true,
      intervalMs: 2000,
    });
  });

  it('reports what it cannot apply and keeps the local settings for it', () => {
    const { plan, problems } = planHubConfig(
      [
        { name: 'host', enabled: true, intervalMs: 5 },
        { name: 'host', enabled: false, intervalMs: 1000 },
        { name: 'ptp', enabled: true, intervalMs: 1000 },
        { name: 'sriov', enabled: false, intervalMs: 0 },
        { name: 'nope', enabled: true, intervalMs: 1000 },
      ],
      local,
      known,
    );
    expect(plan[0]).toEqual({ name: 'host', enabled: true, intervalMs: 10_000 });
    expect(problems).toEqual([
      'collector "host" is listed twice; the first entry is used',
      'collector "ptp" is disabled by the node\'s own configuration; not started',
      'collector "nope" does not exist in this agent',
      'collector "host": interval_ms 5 is outside 100..86400000; keeping 10000',
    ]);
  });
});

describe('batchCapsOf', () => {
  it('caps samples at the hub limit and bytes at half its message size; 0 is no cap', () => {
    const limits = {
      maxMessageBytes: 4 * 1024 * 1024,
      maxSamplesPerBatch: 50_000,
      maxSeriesPerStream: 0,
      maxLabelsPerSeries: 0,
      maxLabelValueLength: 0,
      maxSampleAgeMs: 0,
      maxFutureSkewMs: 0,
    };
    expect(batchCapsOf(limits)).toEqual({ maxSamples: 50_000, maxBytes: 2 * 1024 * 1024 });
    expect(batchCapsOf({ ...limits, maxMessageBytes: 0, maxSamplesPerBatch: 0 })).toEqual({
      maxSamples: 0,
      maxBytes: 0,
    });
  });
});
