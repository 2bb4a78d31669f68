import { describe, expect, it } from 'vitest';
import { compareKey, page, type EntityKey } from './entity-state.js';

describe('fleet order and paging', () => {
  // Names that a locale collation calls equal although they differ: a page
  // that resumed "after" one of them used to skip the other.
  const twins: [string, string][] = [
    ['gpu-a', 'gpu-a\u0000'],
    ['caf\u00e9', 'cafe\u0301'],
    ['node-\u0000', 'node-'],
  ];

  it('orders two different names strictly, in either order', () => {
    for (const [a, b] of twins) {
      const ka: EntityKey = ['c', 'n', a];
      const kb: EntityKey = ['c', 'n', b];
      expect(compareKey(ka, kb), JSON.stringify([a, b])).not.toBe(0);
      expect(Math.sign(compareKey(ka, kb))).toBe(-Math.sign(compareKey(kb, ka)));
      expect(compareKey(ka, ka)).toBe(0);
    }
  });

  it('pages one row at a time through names a collation would merge, each row once', () => {
    const keys: EntityKey[] = twins
      .flat()
      .flatMap((name) => [['east', name, 'x'] as EntityKey, ['east', 'n', name] as EntityKey])
      .sort(compareKey);
    const seen: EntityKey[] = [];
    let after: EntityKey | null = null;
    for (let i = 0; i <= keys.length; i++) {
      const { items, next }: { items: EntityKey[]; next: EntityKey | null } = page(keys, (k) => k, after, 1);
      seen.push(...items);
      if (next === null) break;
      after = next;
    }
    expect(seen).toEqual(keys);
  });
});
