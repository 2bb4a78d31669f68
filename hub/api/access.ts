/**
 * Access-control contract between the API (REST, WebSocket, MCP) and the
 * security implementation behind it. Routes only declare the Permission they
 * need; who the caller is (Authenticator) and what they may do (Authorizer)
 * are swappable: an admin token in the first version, OIDC access tokens,
 * API keys and RBAC later (hub/auth).
 */

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'delete';
export type Resource =
  'clusters' | 'telemetry' | 'events' | 'anomalies' | 'agents' | 'credentials' | 'rbac' | 'audit';

export interface Permission {
  readonly verb: Verb;
  readonly resource: Resource;
}

export interface Principal {
  readonly kind: 'user' | 'api-key' | 'admin-token';
  /** Stable id: OIDC `sub` (prefixed by issuer), API key id, or 'admin'. */
  readonly id: string;
  readonly name: string;
  readonly groups: readonly string[];
  /** When the credential stops being valid (long-lived WebSocket streams close then). */
  readonly expiresAtMs?: number;
}

/** Credentials as presented on a request; only the bearer token for now. */
export interface Credentials {
  readonly bearerToken?: string;
}

export interface Authenticator {
  /** The principal, or null when there are no credentials; throws AuthenticationError when they are invalid. */
  authenticate(credentials: Credentials): Promise<Principal | null>;
}

/** Which clusters a principal may see for a permission: all, or an explicit list. */
export type ClusterScope =
  { readonly all: true } | { readonly all: false; readonly clusters: readonly string[] };

export interface Authorizer {
  /** May `principal` do `permission`, on `cluster` when given (else on all-clusters scope)? */
  allowed(principal: Principal, permission: Permission, cluster?: string): Promise<boolean>;
  /** Clusters on which `permission` is granted: lists are filtered to these. */
  scope(principal: Principal, permission: Permission): Promise<ClusterScope>;
}
