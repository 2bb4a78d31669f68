import { describe, expect, it } from 'vitest';
import { SeriesCache, identityKey } from './series-cache.js';

const base = { cluster: 'c', node: 'n', source: 'gpu', entity: 'GPU-1', metric: 'm', kind: 'gauge' as const };

describe('identityKey', () => {
  it('ignores label order', () => {
    expect(identityKey({ ...base, labels: { a: '1', b: '2' } })).toBe(
      identityKey({ ...base, labels: { b: '2', a: '1' } }),
    );
  });
  it('distinguishes kind', () => {
    expect(identityKey({ ...base, labels: {} })).not.toBe(
      identityKey({ ...base, kind: 'counter', labels: {} }),
    );
  });
});

describe('SeriesCache', () => {
  it('evicts the least recently used entry beyond its bound', () => {
    const c = new SeriesCache(2);
    c.set('a', 1);
    c.set('b', 2);
    expect(c.get('a')).toBe(1);
    c.set('c', 3);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe(1);
    expect(c.get('c')).toBe(3);
    expect(c.size).toBe(2);
  });
});
