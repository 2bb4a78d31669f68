import { AppError, InputError, PermanentError, UnavailableError } from '../../errors.js';

/** SQLSTATEs that mean "the request was wrong" (bad regex, bad value, oversized key), not "the database is". */
const INPUT_STATES = new Set([
  '54000',
  '2201B',
  '22P02',
  '22003',
  '22007',
  '22008',
  '22023',
  '2201W',
  '2201X',
]);

/**
 * Maps a pg error to the hub's error family: bad input (e.g. an invalid
 * regular expression in a label matcher) becomes InputError; integrity
 * violations PermanentError; connection and server-side failures
 * UnavailableError (retryable). AppErrors pass.
 */
export function mapPgError(err: unknown, what: string): AppError {
  if (err instanceof AppError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && INPUT_STATES.has(code)) {
    return new InputError(`${what}: ${message}`, { cause: err });
  }
  // Integrity violations (class 23) come from the data itself: retrying the
  // same write can never succeed.
  if (typeof code === 'string' && code.startsWith('23')) {
    return new PermanentError(`${what}: ${message}`, { cause: err });
  }
  return new UnavailableError(`${what} failed: ${message}`, { cause: err });
}
