import { ConfigError } from '../../errors.js';

/**
 * Settings of the OIDC access-token verifier. Names follow kube-apiserver's
 * `--oidc-*` flags where the meaning is the same, so operators can carry
 * their IdP set-up over.
 */
export interface OidcConfig {
  /** Exact issuer URL; discovery is fetched from `<issuer>/.well-known/openid-configuration`. */
  readonly issuer: string;
  /** The hub's resource identifier: tokens must name it in `aud`. */
  readonly audience: string;
  /** Accepted JWS algorithms; asymmetric only (never `none` or HS*). */
  readonly algorithms: readonly string[];
  /**
   * `require`: the JOSE header must say `typ: at+jwt` (RFC 9068 issuers).
   * `allow`: `at+jwt`, `JWT` or no `typ` are accepted (IdPs that predate RFC 9068);
   * any other type (an ID token marked as such, a logout token…) is rejected.
   */
  readonly typ: 'require' | 'allow';
  /** Claim holding the user name (`sub`, `email`, `preferred_username`…). */
  readonly usernameClaim: string;
  /** Prepended to the user name, so bindings cannot collide across identity sources. */
  readonly usernamePrefix: string;
  /** Dot path of the groups claim (`groups`, `realm_access.roles`); a string or an array of strings. */
  readonly groupsClaim: string;
  /** Prepended to every group name. */
  readonly groupsPrefix: string;
  /** Allowed clock skew for exp/nbf/iat. */
  readonly clockToleranceSec: number;
  /** A JWKS refetch for an unknown `kid` happens at most this often (key rotation without a refetch storm). */
  readonly jwksCooldownMs: number;
  /** The JWKS is refetched at least this often even when every `kid` is known. */
  readonly jwksCacheMaxAgeMs: number;
  /** Timeout of discovery and JWKS HTTP requests. */
  readonly httpTimeoutMs: number;
  /** After a failed discovery, the next attempt waits this long. */
  readonly discoveryRetryMs: number;
  /** Tokens longer than this are refused before any parsing. */
  readonly maxTokenBytes: number;
}

export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

export const OIDC_DEFAULTS: Omit<OidcConfig, 'issuer' | 'audience'> = {
  algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'],
  typ: 'require',
  usernameClaim: 'sub',
  usernamePrefix: '',
  groupsClaim: 'groups',
  groupsPrefix: '',
  clockToleranceSec: 30,
  jwksCooldownMs: 30_000,
  jwksCacheMaxAgeMs: 600_000,
  httpTimeoutMs: 5_000,
  discoveryRetryMs: 10_000,
  maxTokenBytes: 16_384,
};

/** Fills defaults and reports every problem at once (ConfigError). */
export function oidcConfig(input: Partial<OidcConfig> & Pick<OidcConfig, 'issuer' | 'audience'>): OidcConfig {
  const config: OidcConfig = { ...OIDC_DEFAULTS, ...input };
  const problems: string[] = [];
  let issuerUrl: URL | undefined;
  try {
    issuerUrl = new URL(config.issuer);
  } catch {
    problems.push(`oidc.issuer "${config.issuer}" is not a URL`);
  }
  if (issuerUrl && issuerUrl.protocol !== 'https:' && !isLoopbackHttp(issuerUrl)) {
    problems.push('oidc.issuer must be https (plain http is accepted on loopback only, for tests)');
  }
  if (config.audience.trim() === '') problems.push('oidc.audience must not be empty');
  if (config.algorithms.length === 0) problems.push('oidc.algorithms must not be empty');
  const allowed: readonly string[] = ASYMMETRIC_ALGORITHMS;
  for (const alg of config.algorithms) {
    if (!allowed.includes(alg)) {
      problems.push(
        `oidc.algorithms: "${alg}" is not an asymmetric JWS algorithm (allowed: ${allowed.join(', ')})`,
      );
    }
  }
  if (config.typ !== 'require' && config.typ !== 'allow')
    problems.push('oidc.typ must be "require" or "allow"');
  if (config.usernameClaim.trim() === '') problems.push('oidc.usernameClaim must not be empty');
  if (config.groupsClaim.trim() === '') problems.push('oidc.groupsClaim must not be empty');
  if (!(config.clockToleranceSec >= 0 && config.clockToleranceSec <= 300)) {
    problems.push('oidc.clockToleranceSec must be between 0 and 300');
  }
  for (const key of [
    'jwksCooldownMs',
    'jwksCacheMaxAgeMs',
    'httpTimeoutMs',
    'discoveryRetryMs',
    'maxTokenBytes',
  ] as const) {
    if (!(Number.isFinite(config[key]) && config[key] >= 0))
      problems.push(`oidc.${key} must be a non-negative number`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Plain http is tolerated only towards this machine (an IdP started by a test). */
export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
}
