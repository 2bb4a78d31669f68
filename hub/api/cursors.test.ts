import { describe, expect, it } from 'vitest';
import { InputError } from '../errors.js';
import {
  decodeAuditCursor,
  decodeEventCursor,
  decodeKeyCursor,
  decodeSeriesCursor,
  encodeAuditCursor,
  encodeEventCursor,
  encodeKeyCursor,
  encodeSeriesCursor,
} from './cursors.js';

describe('page cursors', () => {
  it('round-trip the keyset position of their own list', () => {
    const position = { timeUs: '1795704570566000', id: '9007199254740993' };
    expect(decodeEventCursor(encodeEventCursor('asc', position))).toEqual({ order: 'asc', position });
    expect(decodeSeriesCursor(encodeSeriesCursor(42))).toBe(42);
  });

  it('refuse a cursor of another list, garbage, or a hand-made position with InputError', () => {
    const events = encodeEventCursor('desc', { timeUs: '1', id: '2' });
    const series = encodeSeriesCursor(7);
    const forged = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    for (const bad of [
      () => decodeSeriesCursor(events),
      () => decodeEventCursor(series),
      () => decodeEventCursor('not base64 json'),
      () => decodeEventCursor(forged([1, 2, 3])),
      () => decodeEventCursor(forged({ v: 2, list: 'events', order: 'desc', timeUs: '1', id: '2' })),
      () => decodeEventCursor(forged({ v: 1, list: 'events', order: 'up', timeUs: '1', id: '2' })),
      () => decodeEventCursor(forged({ v: 1, list: 'events', order: 'asc', timeUs: '1 OR 1=1', id: '2' })),
      () => decodeSeriesCursor(forged({ v: 1, list: 'series', id: 1.5 })),
      () => decodeSeriesCursor(forged({ v: 1, list: 'series', id: -1 })),
    ]) {
      expect(bad).toThrow(InputError);
    }
  });

  it('bind fleet, agents and audit cursors to their own list', () => {
    const key = ['east', 'node-1', 'GPU-1'] as const;
    expect(decodeKeyCursor('fleet/gpus', encodeKeyCursor('fleet/gpus', key))).toEqual(key);
    expect(decodeAuditCursor(encodeAuditCursor(17))).toBe(17);
    const forged = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    for (const bad of [
      () => decodeKeyCursor('fleet/ptp', encodeKeyCursor('fleet/gpus', key)),
      () => decodeKeyCursor('agents', encodeKeyCursor('fleet/nodes', key)),
      () => decodeKeyCursor('agents', encodeAuditCursor(3)),
      () => decodeAuditCursor(encodeKeyCursor('agents', key)),
      () => decodeAuditCursor(encodeSeriesCursor(3)),
      // The untagged arrays these lists once returned, and hand-made ones.
      () => decodeKeyCursor('fleet/gpus', forged(['east', 'node-1', 'GPU-1'])),
      () => decodeKeyCursor('fleet/gpus', forged({ v: 1, list: 'fleet/gpus', key: ['a', 'b'] })),
      () => decodeKeyCursor('fleet/gpus', forged({ v: 1, list: 'fleet/gpus', key: ['a', 'b', 3] })),
      () => decodeKeyCursor('fleet/gpus', forged({ v: 2, list: 'fleet/gpus', key: ['a', 'b', 'c'] })),
      () => decodeAuditCursor('12'),
      () => decodeAuditCursor(forged({ v: 1, list: 'audit', id: 0 })),
      () => decodeAuditCursor(forged({ v: 1, list: 'audit', id: '5' })),
    ]) {
      expect(bad).toThrow(InputError);
    }
  });
});
