import { describe, expect, it } from 'vitest';
import { InputError } from '../errors.js';
import type { EventRecord, StoredSeries } from '../store/store.js';
import { compileSelector } from './selector.js';

const s: StoredSeries = {
  id: 1,
  cluster: 'c1',
  node: 'n1',
  source: 'gpu',
  entity: 'GPU-a',
  metric: 'gpu_power_watts',
  labels: { gpu: '3', model: 'H100' },
  kind: 'gauge',
};
const e: EventRecord = {
  cluster: 'c1',
  node: 'n1',
  timestampMs: 1,
  kind: 'gpu_xid',
  severity: 'warning',
  source: 'gpu',
  entity: 'GPU-a',
  message: 'xid',
  attributes: { xid: '79' },
};

describe('compileSelector', () => {
  it('matches exact fields and an empty selector matches everything', () => {
    expect(compileSelector({}).matchesSeries(s)).toBe(true);
    expect(compileSelector({ cluster: 'c1', node: 'n1', metric: 'gpu_power_watts' }).matchesSeries(s)).toBe(
      true,
    );
    expect(compileSelector({ node: 'n2' }).matchesSeries(s)).toBe(false);
  });

  it('anchors regex matchers like Prometheus and treats a missing label as ""', () => {
    const m = (op: '=' | '!=' | '=~' | '!~', name: string, value: string) =>
      compileSelector({ matchers: [{ name, op, value }] }).matchesSeries(s);
    expect(m('=~', 'gpu', '3|4')).toBe(true);
    expect(m('=~', 'gpu', '3.+')).toBe(false);
    expect(m('=~', 'model', 'H')).toBe(false);
    expect(m('!~', 'model', 'A.*')).toBe(true);
    expect(m('=', 'missing', '')).toBe(true);
    expect(m('!=', 'gpu', '3')).toBe(false);
  });

  it('filters events by kind, minimum severity and attributes', () => {
    expect(compileSelector({ kind: 'gpu_xid', minSeverity: 'warning' }).matchesEvent(e)).toBe(true);
    expect(compileSelector({ minSeverity: 'error' }).matchesEvent(e)).toBe(false);
    expect(compileSelector({ matchers: [{ name: 'xid', op: '=', value: '79' }] }).matchesEvent(e)).toBe(true);
  });

  it('rejects an invalid regular expression with an InputError naming the matcher', () => {
    expect(() => compileSelector({ matchers: [{ name: 'gpu', op: '=~', value: '(' }] })).toThrow(InputError);
    expect(() => compileSelector({ matchers: [{ name: 'gpu', op: '=~', value: '(' }] })).toThrow(
      /matcher gpu/,
    );
  });
});
