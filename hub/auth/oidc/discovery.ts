import { UnavailableError } from '../../errors.js';
import { isLoopbackHttp } from './oidc-config.js';

/** The part of the provider metadata the verifier relies on. */
export interface ProviderMetadata {
  readonly issuer: string;
  readonly jwksUri: URL;
}

/**
 * OpenID Connect Discovery 1.0: fetch `<issuer>/.well-known/openid-configuration`
 * and check that it names exactly the configured issuer (section 4.3: a
 * mismatch means the document is not the issuer's and must not be used).
 * The JWKS URL must be https like the issuer (http towards loopback only).
 */
export async function discover(issuer: string, timeoutMs: number): Promise<ProviderMetadata> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  let body: unknown;
  try {
    const response = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: { accept: 'application/json' },
      redirect: 'error',
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    body = await response.json();
  } catch (err) {
    throw new UnavailableError(`OIDC discovery at ${url} failed`, { cause: err });
  }
  if (body === null || typeof body !== 'object') {
    throw new UnavailableError(`OIDC discovery at ${url} returned no JSON object`);
  }
  const { issuer: advertised, jwks_uri: jwksUri } = body as Record<string, unknown>;
  if (advertised !== issuer) {
    throw new UnavailableError(
      `OIDC discovery at ${url} names issuer ${JSON.stringify(advertised)}, expected ${JSON.stringify(issuer)}`,
    );
  }
  if (typeof jwksUri !== 'string') throw new UnavailableError(`OIDC discovery at ${url} has no jwks_uri`);
  let parsed: URL;
  try {
    parsed = new URL(jwksUri);
  } catch (err) {
    throw new UnavailableError(`OIDC discovery at ${url}: jwks_uri is not a URL`, { cause: err });
  }
  if (parsed.protocol !== 'https:' && !isLoopbackHttp(parsed)) {
    throw new UnavailableError(`OIDC discovery at ${url}: jwks_uri must be https`);
  }
  return { issuer, jwksUri: parsed };
}
