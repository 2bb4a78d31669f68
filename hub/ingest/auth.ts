import { AuthenticationError, ForbiddenError, UnavailableError } from '../errors.js';
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

/**
 * The agent behind a call's token. Missing or unknown token:
 * AuthenticationError (UNAUTHENTICATED); the authenticator failing to decide
 * (database down): UnavailableError, so the agent retries.
 */
export async function authenticateAgent(
  auth: AgentAuthenticator,
  token: string | undefined,
): Promise<AgentPrincipal> {
  if (!token) throw new AuthenticationError('missing "authorization: Bearer <token>" metadata');
  let principal: AgentPrincipal | null;
  try {
    principal = await auth.authenticate(token);
  } catch (err) {
    throw new UnavailableError('cannot verify the token now; retry', { cause: err });
  }
  if (!principal) throw new AuthenticationError('invalid or revoked token');
  return principal;
}

/**
 * An agent may only send for the cluster its token (and, with mutual TLS,
 * its client certificate) belongs to. Throws ForbiddenError otherwise.
 */
export function assertAgentCluster(
  principal: AgentPrincipal,
  cluster: string,
  peer: { readonly check?: (authContext: unknown, cluster: string) => void; readonly authContext: unknown },
): void {
  if (cluster !== principal.cluster) {
    throw new ForbiddenError(`the token belongs to cluster "${principal.cluster}", not "${cluster}"`);
  }
  peer.check?.(peer.authContext, cluster);
}
