import { describe, expect, it } from 'vitest';
import { InputError, NotFoundError, PermanentError, UnavailableError } from '../../errors.js';
import { mapPgError } from './pg-errors.js';

describe('mapPgError', () => {
  it('maps request errors to InputError and keeps the cause', () => {
    const cause = Object.assign(new Error('invalid regular expression'), { code: '2201B' });
    const mapped = mapPgError(cause, 'find series');
    expect(mapped).toBeInstanceOf(InputError);
    expect(mapped.cause).toBe(cause);
  });
  it('maps connection and server failures to a retryable UnavailableError', () => {
    const mapped = mapPgError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'commit');
    expect(mapped).toBeInstanceOf(UnavailableError);
    expect(mapped.retryable).toBe(true);
  });
  it('maps integrity violations to a PermanentError (retrying cannot help)', () => {
    const mapped = mapPgError(Object.assign(new Error('null value in column'), { code: '23502' }), 'commit');
    expect(mapped).toBeInstanceOf(PermanentError);
    expect(mapped.retryable).toBe(false);
  });
  it('passes the hub error family through', () => {
    const e = new NotFoundError('x');
    expect(mapPgError(e, 'y')).toBe(e);
  });
});
