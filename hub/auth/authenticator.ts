import type { Authenticator, Credentials, Principal } from '../api/access.js';
import { AuthenticationError } from '../errors.js';
import { API_KEY_PREFIX } from './api-keys/api-keys.js';
import { TokenRejectedError } from './token-rejected.js';

export interface HubAuthenticatorParts {
  /** API keys (`aiok_…`). */
  readonly apiKeys?: Authenticator;
  /** OIDC JWT access tokens (three dot-separated parts). */
  readonly oidc?: Authenticator;
  /** The bootstrap admin token (hub/api/admin-token.ts), when configured. */
  readonly adminToken?: Authenticator;
}

/**
 * Picks the one authenticator a bearer token is meant for by its shape,
 * so a token is never offered to a verifier it was not issued for (an API
 * key never travels to the IdP's code path, a JWT is never compared with the
 * admin token). A token no configured authenticator accepts is rejected.
 */
export function hubAuthenticator(parts: HubAuthenticatorParts): Authenticator {
  return {
    async authenticate(credentials: Credentials): Promise<Principal | null> {
      const token = credentials.bearerToken;
      if (token === undefined) return null;
      const target = token.startsWith(API_KEY_PREFIX)
        ? parts.apiKeys
        : token.split('.').length === 3 && parts.oidc
          ? parts.oidc
          : parts.adminToken;
      if (!target)
        throw new TokenRejectedError(
          'unknown_credential',
          'bearer token is not a credential this hub accepts',
        );
      if (target !== parts.adminToken) return target.authenticate(credentials);
      try {
        return await target.authenticate(credentials);
      } catch (err) {
        // The admin token's check (hub/api, which knows no audit reasons) only
        // says "no": give the audit log the same stable reason as an unknown key.
        if (err instanceof AuthenticationError && !(err instanceof TokenRejectedError)) {
          throw new TokenRejectedError('unknown_credential', err.message, { cause: err });
        }
        throw err;
      }
    },
  };
}
