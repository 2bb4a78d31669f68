import {
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { Logger } from 'pino';
import { UnavailableError } from '../../errors.js';
import type { Authenticator, Credentials, Principal } from '../../api/access.js';
import { TokenRejectedError, type RejectReason } from '../token-rejected.js';
import { claimAt, groupsFrom } from './claims.js';
import { discover } from './discovery.js';
import type { OidcConfig } from './oidc-config.js';

/** Header types accepted in `allow` mode besides none at all (RFC 9068 §2.1, RFC 7519 §5.1). */
const ALLOWED_TYP = new Set(['at+jwt', 'application/at+jwt', 'jwt']);

/**
 * Verifies OIDC/OAuth 2.0 JWT access tokens (RFC 9068) against the issuer's
 * keys, found through discovery and fetched as a remote JWKS (jose caches
 * the set, refetches it when a token names an unknown `kid` — at most once
 * per cooldown — and when the cache is older than its max age, which is how
 * key rotation is followed).
 *
 * Contract: returns null without a bearer token; a Principal of kind `user`
 * for a valid token; throws TokenRejectedError (an AuthenticationError with a
 * `reason`) for an invalid one, and UnavailableError while the issuer cannot
 * be reached (the caller answers 503, the request may be retried).
 */
export class OidcAuthenticator implements Authenticator {
  private keys: JWTVerifyGetKey | undefined;
  private discovering: Promise<JWTVerifyGetKey> | undefined;
  private nextDiscoveryMs = 0;

  constructor(
    private readonly config: OidcConfig,
    private readonly logger: Logger,
  ) {}

  async authenticate(credentials: Credentials): Promise<Principal | null> {
    const token = credentials.bearerToken;
    if (token === undefined) return null;
    return this.verify(token);
  }

  /** Verifies one access token; see the class contract. */
  async verify(token: string): Promise<Principal> {
    const config = this.config;
    if (Buffer.byteLength(token) > config.maxTokenBytes) {
      throw new TokenRejectedError('malformed', `access token is longer than ${config.maxTokenBytes} bytes`);
    }
    const keys = await this.keySet();
    let payload: JWTPayload;
    let typ: string | undefined;
    try {
      const result = await jwtVerify(token, keys, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: [...config.algorithms],
        clockTolerance: config.clockToleranceSec,
        requiredClaims: ['exp', 'sub'],
        ...(config.typ === 'require' ? { typ: 'at+jwt' } : {}),
      });
      payload = result.payload;
      typ = result.protectedHeader.typ;
    } catch (err) {
      throw rejection(err);
    }
    if (config.typ === 'allow' && typ !== undefined && !ALLOWED_TYP.has(typ.toLowerCase())) {
      throw new TokenRejectedError('wrong_type', `access token has type "${typ}", not at+jwt`);
    }
    const username = claimAt(payload, config.usernameClaim);
    if (typeof username !== 'string' || username === '') {
      throw new TokenRejectedError(
        'invalid_claims',
        `access token has no string claim "${config.usernameClaim}"`,
      );
    }
    const groups = groupsFrom(claimAt(payload, config.groupsClaim), config.groupsPrefix);
    if (groups === null) {
      throw new TokenRejectedError(
        'invalid_claims',
        `access token claim "${config.groupsClaim}" is neither a string nor an array of strings`,
      );
    }
    return {
      kind: 'user',
      id: `${config.issuer}#${payload.sub ?? ''}`,
      name: config.usernamePrefix + username,
      groups,
      expiresAtMs: (payload.exp ?? 0) * 1000,
    };
  }

  /**
   * The issuer's key set, discovering it on first use. A failed discovery is
   * retried no sooner than discoveryRetryMs, so an unreachable IdP does not
   * turn every request into an outbound HTTP call.
   */
  private async keySet(): Promise<JWTVerifyGetKey> {
    if (this.keys) return this.keys;
    if (!this.discovering) {
      if (Date.now() < this.nextDiscoveryMs) {
        throw new UnavailableError('the OIDC issuer is unreachable; retrying discovery shortly');
      }
      this.discovering = discover(this.config.issuer, this.config.httpTimeoutMs)
        .then((metadata) => {
          this.keys = createRemoteJWKSet(metadata.jwksUri, {
            timeoutDuration: this.config.httpTimeoutMs,
            cooldownDuration: this.config.jwksCooldownMs,
            cacheMaxAge: this.config.jwksCacheMaxAgeMs,
          });
          this.logger.info(
            { issuer: metadata.issuer, jwksUri: metadata.jwksUri.href },
            'OIDC issuer discovered',
          );
          return this.keys;
        })
        .catch((err: unknown) => {
          this.nextDiscoveryMs = Date.now() + this.config.discoveryRetryMs;
          this.logger.warn({ err, issuer: this.config.issuer }, 'OIDC discovery failed');
          throw err;
        })
        .finally(() => {
          this.discovering = undefined;
        });
    }
    return this.discovering;
  }
}

/** Maps a jose failure to a stable reason; key-fetch trouble is the IdP's, not the caller's. */
function rejection(err: unknown): Error {
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid) {
    return new UnavailableError('the OIDC issuer did not serve a usable JWKS', { cause: err });
  }
  if (!(err instanceof joseErrors.JOSEError) || err.code === 'ERR_JOSE_GENERIC') {
    // Not a verdict on the token: the JWKS fetch itself failed (network, HTTP status).
    return new UnavailableError('the OIDC issuer could not be reached for its keys', { cause: err });
  }
  const [reason, message] = reasonOf(err);
  return new TokenRejectedError(reason, message, { cause: err });
}

function reasonOf(err: unknown): [RejectReason, string] {
  if (err instanceof joseErrors.JWTExpired) return ['expired', 'access token has expired'];
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'nbf':
        return ['not_yet_valid', 'access token is not yet valid'];
      case 'iss':
        return ['wrong_issuer', 'access token was issued by another issuer'];
      case 'aud':
        return ['wrong_audience', 'access token is not meant for this hub (audience)'];
      case 'typ':
        return ['wrong_type', 'access token is not of type at+jwt'];
      default:
        return ['invalid_claims', `access token claim "${err.claim}" is invalid`];
    }
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed || err instanceof joseErrors.JOSENotSupported) {
    return ['algorithm_not_allowed', 'access token is signed with an algorithm that is not allowed'];
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return ['unknown_key', 'access token is signed with a key the issuer does not publish'];
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) {
    return ['bad_signature', 'access token signature is invalid'];
  }
  return ['malformed', 'access token is malformed'];
}
