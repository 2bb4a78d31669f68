import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, type CryptoKey } from 'jose';
import { errors, Provider } from 'oidc-provider';

/**
 * A real OpenID Provider (oidc-provider from npm) on loopback, issuing RFC
 * 9068 JWT access tokens for the client_credentials grant with a resource
 * indicator. Its keys can be rotated: the HTTP server stays, the provider
 * behind it is replaced by one with the new key set, like an IdP that
 * publishes a new JWKS.
 */
export interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly privateJwk: JWK;
}

export interface TestClient {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly groups: readonly string[];
}

export const ALG = 'RS256';

export async function newSigningKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: ALG, use: 'sig' };
  return { kid, privateKey, publicKey, privateJwk };
}

export class TestIssuer {
  private provider: Provider | undefined;
  issuer = '';

  private constructor(
    private readonly server: Server,
    readonly audience: string,
    readonly clients: readonly TestClient[],
  ) {}

  static async start(options: {
    audience: string;
    clients: readonly TestClient[];
    keys: readonly SigningKey[];
  }) {
    const server = createServer((req, res) => {
      if (!issuer.provider) {
        res.statusCode = 503;
        res.end();
        return;
      }
      issuer.provider.callback()(req, res);
    });
    const issuer = new TestIssuer(server, options.audience, options.clients);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer.issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    issuer.useKeys(options.keys);
    return issuer;
  }

  /** Replaces the published key set (the first key signs new tokens). */
  useKeys(keys: readonly SigningKey[]): void {
    const audience = this.audience;
    const clients = this.clients;
    this.provider = new Provider(this.issuer, {
      clients: clients.map((c) => ({
        client_id: c.clientId,
        client_secret: c.clientSecret,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
      })),
      jwks: { keys: keys.map((k) => k.privateJwk) },
      cookies: { keys: ['test-cookie-key-not-secret'] },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: async () => audience,
          useGrantedResource: async () => true,
          getResourceServerInfo: async (_ctx: unknown, resource: string) => {
            if (resource !== audience) throw new errors.InvalidTarget();
            return {
              scope: 'fleet',
              audience,
              accessTokenTTL: 300,
              accessTokenFormat: 'jwt',
              jwt: { sign: { alg: ALG } },
            };
          },
        },
      },
      extraTokenClaims: async (_ctx: unknown, token: { clientId?: string }) => {
        const client = clients.find((c) => c.clientId === token.clientId);
        return { groups: client ? [...client.groups] : [] };
      },
    });
  }

  /** A token from the real token endpoint; throws with the OAuth error body otherwise. */
  async clientCredentialsToken(client: TestClient, resource = this.audience): Promise<string> {
    const response = await this.tokenRequest(client, resource);
    const body = (await response.json()) as Record<string, unknown>;
    if (!response.ok || typeof body.access_token !== 'string') {
      throw new Error(`token endpoint: ${response.status} ${JSON.stringify(body)}`);
    }
    return body.access_token;
  }

  tokenRequest(client: TestClient, resource: string): Promise<Response> {
    const basic = Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64');
    return fetch(`${this.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope: 'fleet' }).toString(),
    });
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
