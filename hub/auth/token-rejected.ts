import { AuthenticationError } from '../errors.js';

/** Why a credential was refused; recorded in the audit log, never the credential itself. */
export type RejectReason =
  | 'malformed'
  | 'algorithm_not_allowed'
  | 'bad_signature'
  | 'unknown_key'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'wrong_type'
  | 'expired'
  | 'not_yet_valid'
  | 'invalid_claims'
  | 'unknown_credential'
  | 'revoked';

/** An AuthenticationError (HTTP 401) that carries a stable reason for the audit log and tests. */
export class TokenRejectedError extends AuthenticationError {
  constructor(
    readonly reason: RejectReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
