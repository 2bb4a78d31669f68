import { describe, expect, it } from 'vitest';
import { InputError } from '../../errors.js';
import { selectorSql } from './selector-sql.js';

describe('selectorSql', () => {
  it('matches everything for an empty selector', () => {
    expect(selectorSql({})).toEqual({ where: 'TRUE', params: [] });
  });

  it('anchors regular expressions and numbers parameters from the offset', () => {
    const f = selectorSql(
      { metric: 'gpu_temp_celsius', matchers: [{ name: 'gpu', op: '=~', value: '0|1' }] },
      3,
    );
    expect(f.where).toBe("s.metric = $3 AND coalesce(s.labels ->> $4, '') ~ $5");
    expect(f.params).toEqual(['gpu_temp_celsius', 'gpu', '^(?:0|1)$']);
  });

  it('rejects a label name that is not a Prometheus label name', () => {
    expect(() => selectorSql({ matchers: [{ name: 'a-b', op: '=', value: 'x' }] })).toThrow(InputError);
  });

  it('rejects an unknown operator', () => {
    const bad = { matchers: [{ name: 'a', op: '==', value: 'x' }] } as unknown as Parameters<
      typeof selectorSql
    >[0];
    expect(() => selectorSql(bad)).toThrow(/invalid matcher operator/);
  });
});
