import { describe, expect, it } from 'vitest';
import { isAbsent, parseBitmask, parseFlag, parseNumber, parsePstate } from './values.js';

describe('nvidia-smi values', () => {
  it.each([
    '[N/A]',
    'N/A',
    '[Not Supported]',
    '[Insufficient Permissions]',
    '[Unknown Error]',
    '[Requested functionality has been deprecated]',
    '[Function Not Found]',
    '',
    '  ',
  ])('treats %j as absent: no number, never zero', (raw) => {
    expect(isAbsent(raw)).toBe(true);
    expect(parseNumber(raw)).toBeUndefined();
    expect(parsePstate(raw)).toBeUndefined();
    expect(parseFlag(raw)).toBeUndefined();
    expect(parseBitmask(raw)).toBeUndefined();
  });

  it('reads bare numbers and numbers with their unit', () => {
    expect(parseNumber('71.15')).toBe(71.15);
    expect(parseNumber('71.15 W')).toBe(71.15);
    expect(parseNumber('81559 MiB')).toBe(81559);
    expect(parseNumber(' 37 C ')).toBe(37);
    expect(parseNumber('100.00 %')).toBe(100);
    expect(parseNumber('0')).toBe(0);
    expect(parseNumber('0x2330')).toBe(0x2330);
  });

  it('rejects text that is not a number instead of guessing', () => {
    expect(parseNumber('Enabled')).toBeUndefined();
    expect(parseNumber('12abc')).toBeUndefined();
    expect(parseNumber('NaN')).toBeUndefined();
    expect(parseNumber('Infinity')).toBeUndefined();
  });

  it('reads P-states, flags and 64-bit bitmasks', () => {
    expect(parsePstate('P0')).toBe(0);
    expect(parsePstate('P12')).toBe(12);
    expect(parsePstate('X')).toBeUndefined();
    expect(parseFlag('Yes')).toBe(1);
    expect(parseFlag('Not Active')).toBe(0);
    expect(parseFlag('Maybe')).toBeUndefined();
    expect(parseBitmask('0x00000000000001FF')).toBe(0x1ffn);
    expect(parseBitmask('0x1FF0000000000000')).toBe(0x1ff0000000000000n);
    expect(parseBitmask('511')).toBeUndefined();
  });
});
