import { createSecretKey } from 'node:crypto';
import { exportSPKI, SignJWT, type JWTPayload } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthenticationError, ConfigError, UnavailableError } from '../../../hub/errors.js';
import { OidcAuthenticator } from '../../../hub/auth/oidc/oidc-authenticator.js';
import { oidcConfig, type OidcConfig } from '../../../hub/auth/oidc/oidc-config.js';
import { TokenRejectedError } from '../../../hub/auth/token-rejected.js';
import { ALG, newSigningKey, TestIssuer, type SigningKey, type TestClient } from './support/test-issuer.js';

const AUDIENCE = 'https://hub.aiops.test';
const viewerClient: TestClient = {
  clientId: 'ci-bot',
  clientSecret: 'ci-bot-secret-0123456789',
  groups: ['fleet-viewers'],
};
const silent = pino({ level: 'silent' });

let issuer: TestIssuer;
let key1: SigningKey;

function verifier(overrides: Partial<OidcConfig> = {}): OidcAuthenticator {
  return new OidcAuthenticator(
    oidcConfig({ issuer: issuer.issuer, audience: AUDIENCE, jwksCooldownMs: 0, ...overrides }),
    silent,
  );
}

/** A token signed with the issuer's real key but with chosen header and claims. */
async function forge(
  claims: JWTPayload,
  header: { typ?: string; kid?: string } = {},
  key: SigningKey = key1,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: issuer.issuer,
    aud: AUDIENCE,
    sub: 'ci-bot',
    iat: now,
    exp: now + 300,
    ...claims,
  })
    .setProtectedHeader({ alg: ALG, typ: 'at+jwt', kid: key.kid, ...header })
    .sign(key.privateKey);
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

async function reason(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof TokenRejectedError) return err.reason;
    throw err;
  }
  return 'accepted';
}

beforeAll(async () => {
  key1 = await newSigningKey('key-1');
  issuer = await TestIssuer.start({ audience: AUDIENCE, clients: [viewerClient], keys: [key1] });
});

afterAll(async () => {
  await issuer?.stop();
});

describe('OidcAuthenticator against a real OpenID Provider (oidc-provider)', () => {
  it('accepts a client_credentials JWT access token found through discovery and JWKS', async () => {
    const token = await issuer.clientCredentialsToken(viewerClient);
    const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as {
      typ: string;
    };
    expect(header.typ).toBe('at+jwt');
    const principal = await verifier().authenticate({ bearerToken: token });
    expect(principal).toMatchObject({
      kind: 'user',
      id: `${issuer.issuer}#ci-bot`,
      name: 'ci-bot',
      groups: ['fleet-viewers'],
    });
    expect(principal?.expiresAtMs).toBeGreaterThan(Date.now());
    expect(principal?.expiresAtMs).toBeLessThanOrEqual(Date.now() + 300_000);
  });

  it('the provider refuses a resource indicator it does not serve (invalid_target)', async () => {
    const response = await issuer.tokenRequest(viewerClient, 'https://other.example');
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_target' });
  });

  it('applies the configured username claim, groups claim path and prefixes', async () => {
    const token = await forge({ email: 'ada@example.com', realm: { roles: ['gpu-ops', 'ptp'] } });
    const principal = await verifier({
      usernameClaim: 'email',
      usernamePrefix: 'oidc:',
      groupsClaim: 'realm.roles',
      groupsPrefix: 'oidc:',
    }).authenticate({ bearerToken: token });
    expect(principal).toMatchObject({ name: 'oidc:ada@example.com', groups: ['oidc:gpu-ops', 'oidc:ptp'] });
  });

  it('returns null without a bearer token', async () => {
    expect(await verifier().authenticate({})).toBeNull();
  });
});

describe('OidcAuthenticator attack suite', () => {
  it('rejects alg none', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ iss: issuer.issuer, aud: AUDIENCE, sub: 'x', exp: now + 60 })}.`;
    expect(await reason(verifier().verify(token))).toBe('algorithm_not_allowed');
  });

  it('rejects HS256 signed with the issuer public key as HMAC secret', async () => {
    const pem = await exportSPKI(key1.publicKey);
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ iss: issuer.issuer, aud: AUDIENCE, sub: 'x', exp: now + 60 })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: key1.kid })
      .sign(createSecretKey(Buffer.from(pem)));
    expect(await reason(verifier().verify(token))).toBe('algorithm_not_allowed');
  });

  it('rejects a wrong issuer', async () => {
    expect(await reason(verifier().verify(await forge({ iss: 'https://evil.example' })))).toBe(
      'wrong_issuer',
    );
  });

  it('rejects a wrong audience', async () => {
    expect(await reason(verifier().verify(await forge({ aud: 'https://other-api.example' })))).toBe(
      'wrong_audience',
    );
  });

  it('rejects a wrong typ (an ID token, typ JWT) when at+jwt is required', async () => {
    expect(await reason(verifier().verify(await forge({}, { typ: 'JWT' })))).toBe('wrong_type');
  });

  it('in allow mode accepts typ JWT but still rejects other token types', async () => {
    const allow = verifier({ typ: 'allow' });
    expect(await allow.verify(await forge({}, { typ: 'JWT' }))).toMatchObject({ name: 'ci-bot' });
    expect(await reason(allow.verify(await forge({}, { typ: 'logout+jwt' })))).toBe('wrong_type');
  });

  it('rejects an expired token beyond the clock tolerance, accepts one within it', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await reason(verifier().verify(await forge({ exp: now - 120, iat: now - 600 })))).toBe('expired');
    expect(await reason(verifier().verify(await forge({ exp: now - 5, iat: now - 600 })))).toBe('accepted');
  });

  it('rejects a token that is not yet valid', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await reason(verifier().verify(await forge({ nbf: now + 600 })))).toBe('not_yet_valid');
  });

  it('rejects an unknown kid (a key the issuer does not publish)', async () => {
    const attacker = await newSigningKey('attacker-key');
    expect(await reason(verifier().verify(await forge({}, {}, attacker)))).toBe('unknown_key');
  });

  it('rejects a key the issuer does not publish even under a published kid', async () => {
    const attacker = await newSigningKey(key1.kid);
    expect(await reason(verifier().verify(await forge({}, {}, attacker)))).toBe('bad_signature');
  });

  it('rejects a tampered payload of a real token', async () => {
    const token = await issuer.clientCredentialsToken(viewerClient);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const tampered = `${header}.${b64({ ...claims, groups: ['hub-admins'] })}.${signature}`;
    expect(await reason(verifier().verify(tampered))).toBe('bad_signature');
  });

  it('rejects garbage and oversized tokens as malformed', async () => {
    expect(await reason(verifier().verify('not-a-jwt'))).toBe('malformed');
    expect(await reason(verifier().verify('a.b.c'))).toBe('malformed');
    expect(await reason(verifier().verify('x'.repeat(20_000)))).toBe('malformed');
  });

  it('rejects a token without a usable username or with a malformed groups claim', async () => {
    expect(await reason(verifier({ usernameClaim: 'email' }).verify(await forge({})))).toBe('invalid_claims');
    expect(await reason(verifier().verify(await forge({ groups: [1, 2] })))).toBe('invalid_claims');
  });

  it('every rejection is an AuthenticationError (HTTP 401)', async () => {
    await expect(verifier().verify(await forge({ aud: 'x' }))).rejects.toBeInstanceOf(AuthenticationError);
  });

  it('follows a key rotation: the new key is accepted after a JWKS refetch, the removed key is rejected', async () => {
    const v = verifier({ jwksCooldownMs: 50 });
    const oldToken = await issuer.clientCredentialsToken(viewerClient);
    expect(await v.verify(oldToken)).toMatchObject({ name: 'ci-bot' });

    const key2 = await newSigningKey('key-2');
    issuer.useKeys([key2]);
    await new Promise((r) => setTimeout(r, 100));
    const newToken = await issuer.clientCredentialsToken(viewerClient);
    const kid = (
      JSON.parse(Buffer.from(newToken.split('.')[0] ?? '', 'base64url').toString()) as { kid: string }
    ).kid;
    expect(kid).toBe('key-2');
    expect(await v.verify(newToken)).toMatchObject({ name: 'ci-bot' });

    await new Promise((r) => setTimeout(r, 100));
    expect(await reason(v.verify(oldToken))).toBe('unknown_key');
    issuer.useKeys([key1]);
  });
});

describe('OidcAuthenticator discovery and configuration', () => {
  it('refuses a discovery document that names another issuer', async () => {
    const v = verifier({ issuer: `${issuer.issuer}/` });
    await expect(v.verify(await forge({}))).rejects.toBeInstanceOf(UnavailableError);
  });

  it('answers Unavailable (not 401) while the issuer cannot be reached, and retries later', async () => {
    const v = new OidcAuthenticator(
      oidcConfig({
        issuer: 'http://127.0.0.1:9',
        audience: AUDIENCE,
        httpTimeoutMs: 500,
        discoveryRetryMs: 60_000,
      }),
      silent,
    );
    await expect(v.verify('a.b.c')).rejects.toBeInstanceOf(UnavailableError);
    await expect(v.verify('a.b.c')).rejects.toThrow(/retrying discovery/);
  });

  it('refuses symmetric or none algorithms and a plain-http remote issuer at start-up', () => {
    expect(() =>
      oidcConfig({ issuer: 'http://idp.example', audience: '', algorithms: ['HS256', 'none'] }),
    ).toThrow(ConfigError);
    try {
      oidcConfig({ issuer: 'http://idp.example', audience: '', algorithms: ['HS256', 'none'] });
    } catch (err) {
      expect((err as ConfigError).problems).toHaveLength(4);
    }
  });
});
