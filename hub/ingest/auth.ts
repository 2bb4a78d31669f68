import type { EnrollmentTokens } from '../store/store.js';

/** Who an agent's token says it is. */
export interface AgentPrincipal {
  readonly cluster: string;
  /** Stable id of the credential, so its open streams can be cut when it is revoked. */
  readonly tokenId: string;
}

/**
 * Authenticates the bearer token of an ingest call. Contract: resolves to the
 * principal for a valid, unrevoked token and to null for any other token;
 * rejects only when it cannot decide (e.g. the database is down), which the
 * server reports as UNAVAILABLE so the agent retries.
 */
export interface AgentAuthenticator {
  authenticate(token: string): Promise<AgentPrincipal | null>;
}

/** The default authenticator: per-cluster enrollment tokens kept (hashed) in the store. */
export function enrollmentTokenAuthenticator(tokens: EnrollmentTokens): AgentAuthenticator {
  return {
    async authenticate(token) {
      const info = await tokens.verify(token);
      return info ? { cluster: info.cluster, tokenId: info.id } : null;
    },
  };
}

/** The token of an `authorization: Bearer <token>` metadata value, or undefined. */
export function bearerToken(values: readonly (string | Buffer)[]): string | undefined {
  if (values.length !== 1) return undefined;
  const v = values[0];
  if (typeof v !== 'string') return undefined;
  const m = /^Bearer +(\S+) *$/i.exec(v);
  return m?.[1];
}
