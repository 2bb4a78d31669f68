import { describe, expect, it } from 'vitest';
import { seriesKeyId } from './telemetry.js';

describe('seriesKeyId', () => {
  it('is independent of label insertion order', () => {
    const a = seriesKeyId({
      metric: 'm',
      source: 's',
      entity: 'e',
      kind: 'gauge',
      labels: { a: '1', b: '2' },
    });
    const b = seriesKeyId({
      metric: 'm',
      source: 's',
      entity: 'e',
      kind: 'gauge',
      labels: { b: '2', a: '1' },
    });
    expect(a).toBe(b);
  });

  it('distinguishes series that differ only in entity or label value', () => {
    const base = { metric: 'm', source: 's', kind: 'gauge' as const };
    expect(seriesKeyId({ ...base, entity: 'GPU-1', labels: {} })).not.toBe(
      seriesKeyId({ ...base, entity: 'GPU-2', labels: {} }),
    );
    expect(seriesKeyId({ ...base, entity: '', labels: { x: '1' } })).not.toBe(
      seriesKeyId({ ...base, entity: '', labels: { x: '2' } }),
    );
  });
});
