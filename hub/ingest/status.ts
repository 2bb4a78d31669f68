import { status as GrpcStatus, type StatusObject } from '@grpc/grpc-js';
import {
  AppError,
  AuthenticationError,
  ConflictError,
  ForbiddenError,
  InputError,
  RateLimitedError,
  UnavailableError,
} from '../errors.js';

/** A newer stream of the same agent replaced this one on this hub. */
export class StreamSupersededError extends AppError {
  readonly code = 'superseded';
}

/**
 * The one mapping from the hub's error family to gRPC status codes at the
 * ingest edge (docs/protocol.md lists when each happens). Anything that is
 * not an AppError is an internal fault: the agent sees INTERNAL and a
 * generic message, the log gets the details.
 */
export function toGrpcStatus(err: unknown): Pick<StatusObject, 'code' | 'details'> {
  if (err instanceof InputError) return { code: GrpcStatus.INVALID_ARGUMENT, details: err.message };
  if (err instanceof AuthenticationError) return { code: GrpcStatus.UNAUTHENTICATED, details: err.message };
  if (err instanceof ForbiddenError) return { code: GrpcStatus.PERMISSION_DENIED, details: err.message };
  if (err instanceof RateLimitedError) return { code: GrpcStatus.RESOURCE_EXHAUSTED, details: err.message };
  if (err instanceof ConflictError) return { code: GrpcStatus.FAILED_PRECONDITION, details: err.message };
  if (err instanceof UnavailableError) return { code: GrpcStatus.UNAVAILABLE, details: err.message };
  if (err instanceof StreamSupersededError) return { code: GrpcStatus.ABORTED, details: err.message };
  return { code: GrpcStatus.INTERNAL, details: 'internal error in the ingest server' };
}

export function statusName(code: number): string {
  return (GrpcStatus as unknown as Record<number, string>)[code] ?? String(code);
}
