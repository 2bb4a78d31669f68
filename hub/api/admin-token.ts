import { createHash, timingSafeEqual } from 'node:crypto';
import { AuthenticationError } from '../errors.js';
import type { Authenticator, Authorizer, ClusterScope, Credentials, Principal } from './access.js';

/**
 * The bootstrap credential: one admin bearer token from configuration (or
 * generated at start). It authenticates as the `admin` principal, which the
 * AdminOnlyAuthorizer allows everything. OIDC, API keys and RBAC (hub/auth)
 * wrap or replace these two through the same interfaces.
 */
export class AdminTokenAuthenticator implements Authenticator {
  private readonly digest: Buffer;

  constructor(adminToken: string) {
    // Compare digests so the comparison is constant-time whatever the length.
    this.digest = sha256(adminToken);
  }

  async authenticate(credentials: Credentials): Promise<Principal | null> {
    if (credentials.bearerToken === undefined) return null;
    if (!timingSafeEqual(sha256(credentials.bearerToken), this.digest)) {
      throw new AuthenticationError('invalid bearer token');
    }
    return ADMIN_PRINCIPAL;
  }
}

export const ADMIN_PRINCIPAL: Principal = { kind: 'admin-token', id: 'admin', name: 'admin', groups: [] };

export class AdminOnlyAuthorizer implements Authorizer {
  async allowed(principal: Principal): Promise<boolean> {
    return principal.kind === 'admin-token';
  }

  async scope(principal: Principal): Promise<ClusterScope> {
    return principal.kind === 'admin-token' ? { all: true } : { all: false, clusters: [] };
  }
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
