/**
 * The hub's error family. Code throws these (always with `{ cause }` when
 * wrapping); exactly one place maps them to HTTP problem+json (hub/api) and
 * one to gRPC status codes (hub/ingest). `code` is a stable machine-readable
 * identifier listed in docs/protocol.md and the OpenAPI document.
 */
export abstract class AppError extends Error {
  abstract readonly code: string;
  /** True when retrying the same request later can succeed. */
  readonly retryable: boolean = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class InputError extends AppError {
  readonly code = 'invalid_input';
}
export class AuthenticationError extends AppError {
  readonly code = 'unauthenticated';
}
export class ForbiddenError extends AppError {
  readonly code = 'forbidden';
}
export class NotFoundError extends AppError {
  readonly code = 'not_found';
}
export class ConflictError extends AppError {
  readonly code = 'conflict';
}
export class RateLimitedError extends AppError {
  readonly code = 'rate_limited';
  override readonly retryable = true;
}
export class UnavailableError extends AppError {
  readonly code = 'unavailable';
  override readonly retryable = true;
}
export class PermanentError extends AppError {
  readonly code = 'permanent';
}
export class ConfigError extends AppError {
  readonly code = 'invalid_config';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}
