import { createSecretKey } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { exportSPKI, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../../hub/api/access.js';
import { roleGrants, ROLES, type Role } from '../../../hub/auth/rbac/roles.js';
import { MemoryStore } from '../../../hub/ingest/testing/memory-store.js';
import { pgliteEngine, type TestDatabase } from './support/databases.js';
import { buildTestApp, type RouteInfo, type TestApp } from './support/test-app.js';
import { ALG, newSigningKey, TestIssuer, type SigningKey, type TestClient } from './support/test-issuer.js';

const AUDIENCE = 'https://hub.aiops.test';
const ADMIN_TOKEN = 'bootstrap-admin-token-7f3a9c2e5b1d4f6a8c0e2b4d6f8a0c1e';
const clients = {
  hubAdmin: { clientId: 'hub-admin', clientSecret: 'hub-admin-secret-0123456789', groups: ['hub-admins'] },
  eastAdmin: {
    clientId: 'east-admin',
    clientSecret: 'east-admin-secret-0123456789',
    groups: ['east-admins'],
  },
  viewer: { clientId: 'viewer-bot', clientSecret: 'viewer-secret-0123456789', groups: ['fleet-viewers'] },
  nobody: { clientId: 'nobody', clientSecret: 'nobody-secret-0123456789', groups: [] },
} satisfies Record<string, TestClient>;

let issuer: TestIssuer;
let key: SigningKey;
let db: TestDatabase;
let t: TestApp;
let base: string;
const tokens: Record<keyof typeof clients, string> = { hubAdmin: '', eastAdmin: '', viewer: '', nobody: '' };
/** Every credential the suite handled: none may appear in logs or the database. */
const secrets: string[] = [ADMIN_TOKEN];

interface Answer {
  status: number;
  type: string;
  body: Record<string, unknown>;
  headers: Headers;
}

async function call(method: string, path: string, token?: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    headers: response.headers,
  };
}

async function forge(
  claims: JWTPayload,
  header: { typ?: string; kid?: string } = {},
  signer = key,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: issuer.issuer,
    aud: AUDIENCE,
    sub: 'hub-admin',
    groups: ['hub-admins'],
    iat: now,
    exp: now + 300,
    ...claims,
  })
    .setProtectedHeader({ alg: ALG, typ: 'at+jwt', kid: signer.kid, ...header })
    .sign(signer.privateKey);
}

beforeAll(async () => {
  key = await newSigningKey('http-key-1');
  issuer = await TestIssuer.start({ audience: AUDIENCE, clients: Object.values(clients), keys: [key] });
  db = await pgliteEngine.open();
  t = await buildTestApp({
    sql: db.sql,
    enrollmentTokens: new MemoryStore().enrollmentTokens,
    issuer: issuer.issuer,
    audience: AUDIENCE,
    adminToken: ADMIN_TOKEN,
    // Short, so the key-rotation case need not wait 30 s for the hub to refetch the JWKS.
    oidc: { jwksCooldownMs: 50 },
  });
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  for (const name of Object.keys(clients) as (keyof typeof clients)[]) {
    tokens[name] = await issuer.clientCredentialsToken(clients[name]);
    secrets.push(tokens[name], clients[name].clientSecret);
  }
});

afterAll(async () => {
  await t?.app.close();
  await db?.close();
  await issuer?.stop();
});

describe('hub HTTP security', () => {
  it('a bootstrap admin (group from config) creates bindings for a group at all-clusters and at one cluster', async () => {
    const viewers = await call('POST', '/api/v1/rbac/bindings', tokens.hubAdmin, {
      subjectKind: 'group',
      subject: 'fleet-viewers',
      role: 'viewer',
    });
    expect(viewers.status).toBe(201);
    expect(viewers.body).toMatchObject({
      subject: 'fleet-viewers',
      role: 'viewer',
      cluster: null,
      createdBy: 'hub-admin',
    });
    const east = await call('POST', '/api/v1/rbac/bindings?cluster=east', tokens.hubAdmin, {
      subjectKind: 'group',
      subject: 'east-admins',
      role: 'admin',
    });
    expect(east.status).toBe(201);
    expect(east.body).toMatchObject({ cluster: 'east' });
  });

  it('GET /me shows the principal, its groups and effective bindings; 401 without credentials', async () => {
    const me = await call('GET', '/api/v1/me', tokens.eastAdmin);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ kind: 'user', name: 'east-admin', groups: ['east-admins'] });
    expect(me.body.bindings).toEqual([
      expect.objectContaining({ role: 'admin', cluster: 'east', source: 'binding' }),
    ]);
    const anonymous = await call('GET', '/api/v1/me');
    expect(anonymous.status).toBe(401);
    expect(anonymous.type).toContain('application/problem+json');
    const nobody = await call('GET', '/api/v1/me', tokens.nobody);
    expect(nobody.status).toBe(200);
    expect(nobody.body.bindings).toEqual([]);
  });

  it('a cluster admin manages enrollment tokens of its cluster only', async () => {
    const created = await call('POST', '/api/v1/clusters/east/enrollment-tokens', tokens.eastAdmin, {
      description: 'east agents',
    });
    expect(created.status).toBe(201);
    const token = created.body.token as string;
    secrets.push(token);
    const id = (created.body.enrollmentToken as { id: string }).id;
    const list = await call('GET', '/api/v1/clusters/east/enrollment-tokens', tokens.eastAdmin);
    expect(JSON.stringify(list.body)).not.toContain(token);
    expect(list.body.enrollmentTokens).toEqual([
      expect.objectContaining({ id, cluster: 'east', revokedMs: null }),
    ]);

    expect((await call('POST', '/api/v1/clusters/west/enrollment-tokens', tokens.eastAdmin, {})).status).toBe(
      403,
    );
    expect(
      (await call('DELETE', `/api/v1/clusters/west/enrollment-tokens/${id}`, tokens.hubAdmin)).status,
    ).toBe(404);
    // Without ?cluster= a cluster admin gets the bindings of its clusters (and all-clusters ones), not 403.
    const ownBindings = await call('GET', '/api/v1/rbac/bindings', tokens.eastAdmin);
    expect(ownBindings.status).toBe(200);
    const clustersSeen = (ownBindings.body.bindings as { cluster: string | null }[]).map((b) => b.cluster);
    expect(clustersSeen.every((c) => c === 'east' || c === null)).toBe(true);
    const eastBindings = await call('GET', '/api/v1/rbac/bindings?cluster=east', tokens.eastAdmin);
    expect(eastBindings.status).toBe(200);
    expect((await call('GET', '/api/v1/rbac/bindings?cluster=west', tokens.eastAdmin)).status).toBe(403);
    const ownTokens = await call('GET', '/api/v1/enrollment-tokens', tokens.eastAdmin);
    const ownList = ownTokens.body.enrollmentTokens as { id: string; cluster: string }[];
    expect(ownList.map((e) => e.id)).toContain(id);
    expect(ownList.every((e) => e.cluster === 'east')).toBe(true);

    expect(
      (await call('DELETE', `/api/v1/clusters/east/enrollment-tokens/${id}`, tokens.eastAdmin)).status,
    ).toBe(204);
    expect(t.revokedEnrollmentTokens).toContain(id);
  });

  it('API keys: created by an admin, shown once, scoped, revocable', async () => {
    const created = await call('POST', '/api/v1/api-keys', tokens.hubAdmin, {
      name: 'grafana',
      role: 'viewer',
      clusters: ['east'],
      expiresInDays: 30,
    });
    expect(created.status).toBe(201);
    const apiKey = created.body.key as string;
    secrets.push(apiKey);
    const id = (created.body.apiKey as { id: string }).id;
    expect((await call('GET', '/api/v1/me', apiKey)).body).toMatchObject({ kind: 'api-key', id });
    const listed = await call('GET', '/api/v1/api-keys', tokens.hubAdmin);
    expect(JSON.stringify(listed.body)).not.toContain(apiKey.slice(22));
    // A viewer key may not mint credentials; an east admin may not create hub-wide keys.
    expect((await call('POST', '/api/v1/clusters/east/enrollment-tokens', apiKey, {})).status).toBe(403);
    expect(
      (
        await call('POST', '/api/v1/api-keys', tokens.eastAdmin, {
          name: 'x',
          role: 'admin',
          clusters: null,
          expiresInDays: 1,
        })
      ).status,
    ).toBe(403);
    expect((await call('DELETE', `/api/v1/api-keys/${id}`, tokens.hubAdmin)).status).toBe(204);
    const after = await call('GET', '/api/v1/me', apiKey);
    expect(after.status).toBe(401);
    expect(after.body).toMatchObject({ code: 'unauthenticated', detail: 'API key has been revoked' });
  });

  it('a cluster admin cannot mint or revoke hub-wide keys by adding ?cluster= to a route that takes none', async () => {
    const { info: hubWide, key: hubWideKey } = await t.apiKeys.create(
      { name: 'hub-wide', role: 'viewer', clusters: null, expiresInMs: 600_000 },
      'test',
    );
    secrets.push(hubWideKey);
    const listKeys = async () =>
      JSON.stringify((await call('GET', '/api/v1/api-keys', tokens.hubAdmin)).body.apiKeys);
    const before = await listKeys();
    for (const clusters of [null, ['east', 'west']]) {
      const mint = await call('POST', '/api/v1/api-keys?cluster=east', tokens.eastAdmin, {
        name: 'escalate',
        role: 'admin',
        clusters,
        expiresInDays: 1,
      });
      expect(mint.status, JSON.stringify(clusters)).toBe(403);
      expect(mint.type).toContain('application/problem+json');
      expect(mint.body).toMatchObject({ code: 'forbidden' });
    }
    const revoke = await call('DELETE', `/api/v1/api-keys/${hubWide.id}?cluster=east`, tokens.eastAdmin);
    expect(revoke.status).toBe(403);
    expect(revoke.body).toMatchObject({ code: 'forbidden' });
    expect(await listKeys()).toBe(before);
    expect((await t.apiKeys.get(hubWide.id))?.revokedMs).toBeNull();
    expect((await call('GET', '/api/v1/me', hubWideKey)).status).toBe(200);
  });

  it('files an audit entry under a cluster only when the route takes one and the guard authorized it', async () => {
    const marker = `audit-${Math.random().toString(36).slice(2)}`;
    // A global admin's hub-wide mutation with a stray ?cluster=east.
    const hubWide = await call('POST', '/api/v1/api-keys?cluster=east', tokens.hubAdmin, {
      name: marker,
      role: 'viewer',
      clusters: null,
      expiresInDays: 1,
    });
    expect(hubWide.status).toBe(201);
    secrets.push(hubWide.body.key as string);
    const keyId = (hubWide.body.apiKey as { id: string }).id;
    // Refused attempts labelled with a cluster by the caller.
    expect((await call('DELETE', `/api/v1/api-keys/${keyId}?cluster=east`, tokens.eastAdmin)).status).toBe(
      403,
    );
    expect(
      (
        await call('POST', '/api/v1/rbac/bindings?cluster=west', tokens.eastAdmin, {
          subjectKind: 'user',
          subject: marker,
          role: 'viewer',
        })
      ).status,
    ).toBe(403);
    // An east mutation the guard authorized on east.
    const east = await call('POST', '/api/v1/rbac/bindings?cluster=east', tokens.eastAdmin, {
      subjectKind: 'user',
      subject: marker,
      role: 'viewer',
    });
    expect(east.status).toBe(201);
    await t.audit.flush();

    type Entry = {
      path?: string;
      method?: string;
      outcome: string;
      cluster?: string;
      principalName?: string;
    };
    const all = (await call('GET', '/api/v1/audit?limit=1000', tokens.hubAdmin)).body.entries as Entry[];
    const find = (method: string, path: string, principal: string) =>
      all.find((e) => e.method === method && e.path === path && e.principalName === principal);
    expect(find('POST', '/api/v1/api-keys', 'hub-admin')).toMatchObject({ outcome: 'success' });
    expect(find('POST', '/api/v1/api-keys', 'hub-admin')?.cluster).toBeUndefined();
    const refusedRevoke = find('DELETE', `/api/v1/api-keys/${keyId}`, 'east-admin');
    expect(refusedRevoke).toMatchObject({ outcome: 'forbidden' });
    expect(refusedRevoke?.cluster).toBeUndefined();
    const refusedBind = all.find(
      (e) =>
        e.path === '/api/v1/rbac/bindings' && e.outcome === 'forbidden' && e.principalName === 'east-admin',
    );
    expect(refusedBind?.cluster).toBeUndefined();
    const eastBind = all.filter(
      (e) =>
        e.path === '/api/v1/rbac/bindings' && e.outcome === 'success' && e.principalName === 'east-admin',
    );
    expect(eastBind.map((e) => e.cluster)).toContain('east');

    // The east admin's own audit view holds none of the hub-wide or refused entries.
    const eastView = (await call('GET', '/api/v1/audit?limit=1000', tokens.eastAdmin)).body
      .entries as Entry[];
    expect(eastView.length).toBeGreaterThan(0);
    expect(eastView.every((e) => e.cluster === 'east')).toBe(true);
    expect(eastView.some((e) => e.path === '/api/v1/api-keys')).toBe(false);
    expect(eastView.some((e) => e.path === `/api/v1/api-keys/${keyId}`)).toBe(false);
  });

  it('refuses bad input with problem+json and stores nothing', async () => {
    const before = (await call('GET', '/api/v1/rbac/bindings', tokens.hubAdmin)).body.bindings as unknown[];
    const bad = await call('POST', '/api/v1/rbac/bindings?cluster=East!', tokens.hubAdmin, {
      subjectKind: 'robot',
      subject: '',
      role: 'root',
    });
    expect(bad.status).toBe(400);
    expect(bad.type).toContain('application/problem+json');
    const dup = await call('POST', '/api/v1/rbac/bindings', tokens.hubAdmin, {
      subjectKind: 'group',
      subject: 'fleet-viewers',
      role: 'viewer',
    });
    expect(dup.status).toBe(409);
    const after = (await call('GET', '/api/v1/rbac/bindings', tokens.hubAdmin)).body.bindings as unknown[];
    expect(after).toHaveLength(before.length);
  });

  it('sends security headers and CORS only for allowlisted origins', async () => {
    const answer = await fetch(`${base}/api/v1/me`, {
      headers: { authorization: `Bearer ${tokens.viewer}`, origin: 'https://console.example' },
    });
    expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
    expect(answer.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(answer.headers.get('strict-transport-security')).toContain('max-age=');
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.headers.get('access-control-allow-origin')).toBe('https://console.example');
    const foreign = await fetch(`${base}/api/v1/me`, {
      headers: { authorization: `Bearer ${tokens.viewer}`, origin: 'https://evil.example' },
    });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('limits', () => {
  it('rate-limits per principal: one principal over its budget does not throttle another', async () => {
    const limited = await buildTestApp({
      sql: db.sql,
      enrollmentTokens: new MemoryStore().enrollmentTokens,
      issuer: issuer.issuer,
      audience: AUDIENCE,
      adminToken: ADMIN_TOKEN,
      rateLimitMax: 3,
    });
    try {
      const keys = [];
      for (const name of ['rl-a', 'rl-b']) {
        const { key: k } = await limited.apiKeys.create(
          { name, role: 'admin', clusters: null, expiresInMs: 60_000 },
          't',
        );
        secrets.push(k);
        keys.push(k);
      }
      const get = (k: string) =>
        limited.app.inject({
          method: 'GET',
          url: '/api/v1/rbac/bindings',
          headers: { authorization: `Bearer ${k}` },
        });
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await get(keys[0] as string)).statusCode);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const over = await get(keys[0] as string);
      expect(over.headers['content-type']).toContain('application/problem+json');
      expect(over.json()).toMatchObject({ code: 'rate_limited' });
      expect((await get(keys[1] as string)).statusCode).toBe(200);
    } finally {
      await limited.app.close();
    }
  });

  it('refuses a body over the size limit with 413 problem+json and stores nothing', async () => {
    const answer = await call('POST', '/api/v1/rbac/bindings', tokens.hubAdmin, {
      subjectKind: 'user',
      subject: 'x'.repeat(100_000),
      role: 'viewer',
    });
    expect(answer.status).toBe(413);
    expect(answer.type).toContain('application/problem+json');
    const list = await call('GET', '/api/v1/rbac/bindings', tokens.hubAdmin);
    expect(JSON.stringify(list.body)).not.toContain('xxxxxxxxxx');
  });
});

/** The audit entries of refused authentications recorded since `sinceMs`, read through GET /audit. */
async function refusalsSince(sinceMs: number): Promise<{ reason?: string; path?: string }[]> {
  await t.audit.flush();
  const audit = await call(
    'GET',
    `/api/v1/audit?outcome=unauthenticated&since=${sinceMs}&limit=1000`,
    // The bootstrap admin token: it stays valid while the issuer's keys rotate.
    ADMIN_TOKEN,
  );
  expect(audit.status).toBe(200);
  return audit.body.entries as { reason?: string; path?: string }[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('attack suite over HTTP: each token is refused with 401, a problem+json body and its reason', () => {
  const attacks: [string, () => Promise<string>, string][] = [
    [
      'alg none',
      async () => {
        const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
        const now = Math.floor(Date.now() / 1000);
        return `${enc({ alg: 'none', typ: 'at+jwt' })}.${enc({ iss: issuer.issuer, aud: AUDIENCE, sub: 'hub-admin', groups: ['hub-admins'], exp: now + 60 })}.`;
      },
      'algorithm_not_allowed',
    ],
    [
      'HS256 signed with the public key',
      async () => {
        const now = Math.floor(Date.now() / 1000);
        return new SignJWT({
          iss: issuer.issuer,
          aud: AUDIENCE,
          sub: 'hub-admin',
          groups: ['hub-admins'],
          exp: now + 60,
        })
          .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: key.kid })
          .sign(createSecretKey(Buffer.from(await exportSPKI(key.publicKey))));
      },
      'algorithm_not_allowed',
    ],
    ['wrong issuer', () => forge({ iss: 'https://evil.example' }), 'wrong_issuer'],
    ['wrong audience', () => forge({ aud: 'https://another-api.example' }), 'wrong_audience'],
    ['wrong typ', () => forge({}, { typ: 'JWT' }), 'wrong_type'],
    [
      'expired',
      () => forge({ exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 }),
      'expired',
    ],
    ['not yet valid', () => forge({ nbf: Math.floor(Date.now() / 1000) + 3600 }), 'not_yet_valid'],
    ['unknown kid', async () => forge({}, {}, await newSigningKey('unknown-kid')), 'unknown_key'],
    [
      'tampered payload',
      async () => {
        const [h, p, s] = tokens.nobody.split('.') as [string, string, string];
        const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
        return `${h}.${Buffer.from(JSON.stringify({ ...claims, groups: ['hub-admins'] })).toString('base64url')}.${s}`;
      },
      'bad_signature',
    ],
    ['a bearer token that is no credential', async () => 'definitely-not-a-token', 'unknown_credential'],
  ];

  /** Presents `token` on a guarded and a self-authenticated route; both must refuse it for `reason`. */
  async function expectRefused(token: string, reason: string): Promise<void> {
    const sinceMs = Date.now();
    const paths = ['/api/v1/rbac/bindings', '/api/v1/me'];
    for (const path of paths) {
      const answer = await call('GET', path, token);
      expect(answer.status).toBe(401);
      expect(answer.type).toContain('application/problem+json');
      expect(answer.body).toMatchObject({ status: 401, code: 'unauthenticated' });
      expect(answer.headers.get('www-authenticate')).toBe('Bearer');
    }
    const entries = await refusalsSince(sinceMs);
    expect(entries.map((e) => e.path).sort()).toEqual([...paths].sort());
    expect(entries.map((e) => e.reason)).toEqual([reason, reason]);
  }

  for (const [name, make, reason] of attacks) {
    it(`refuses ${name} (${reason})`, async () => {
      const token = await make();
      secrets.push(token);
      await expectRefused(token, reason);
    });
  }

  it('refuses a token signed by the removed key after a rotation (unknown_key)', async () => {
    const kidOf = (jwt: string) =>
      (JSON.parse(Buffer.from(jwt.split('.')[0] ?? '', 'base64url').toString()) as { kid?: string }).kid;
    const old = await issuer.clientCredentialsToken(clients.viewer);
    secrets.push(old);
    expect(kidOf(old)).toBe(key.kid);
    expect((await call('GET', '/api/v1/me', old)).status).toBe(200);

    // The provider now publishes only the new key: the old one is removed from its JWKS.
    const rotated = await newSigningKey('http-key-2');
    issuer.useKeys([rotated]);
    try {
      await sleep(100); // past the hub's JWKS refetch cooldown
      const fresh = await issuer.clientCredentialsToken(clients.viewer);
      secrets.push(fresh);
      expect(kidOf(fresh)).toBe('http-key-2');
      // The new kid makes the hub refetch the JWKS: the new key is accepted.
      expect((await call('GET', '/api/v1/me', fresh)).status).toBe(200);
      await sleep(100);
      // A token the issuer really signed, unexpired, but with a key no longer published.
      await expectRefused(old, 'unknown_key');
    } finally {
      issuer.useKeys([key]);
      await sleep(100);
    }
    // Back on the first key, the earlier tokens work again (the suite goes on with them).
    expect((await call('GET', '/api/v1/me', tokens.viewer)).status).toBe(200);
  });

  it('records every refusal in the audit log with its reason, readable through GET /audit', async () => {
    await t.audit.flush();
    const audit = await call('GET', '/api/v1/audit?outcome=unauthenticated&limit=1000', tokens.hubAdmin);
    expect(audit.status).toBe(200);
    const reasons = new Set((audit.body.entries as { reason?: string }[]).map((e) => e.reason));
    for (const r of [
      'algorithm_not_allowed',
      'wrong_issuer',
      'wrong_audience',
      'wrong_type',
      'expired',
      'not_yet_valid',
      'unknown_key',
      'bad_signature',
    ]) {
      expect(reasons).toContain(r);
    }
    const mutations = await call('GET', '/api/v1/audit?outcome=success&limit=1000', tokens.hubAdmin);
    const actions = (mutations.body.entries as { action: string; principalName?: string }[]).map(
      (e) => `${e.principalName}: ${e.action}`,
    );
    expect(actions).toContain('hub-admin: create rbac');
    expect(actions).toContain('east-admin: create credentials');
    expect(actions).toContain('east-admin: delete credentials');
  });
});

describe('route × role matrix (generated from the route table)', () => {
  const keys = new Map<string, string>();
  const principalsFor = (role: Role, scope: 'all' | 'east') => keys.get(`${role}/${scope}`) as string;

  beforeAll(async () => {
    for (const role of ROLES) {
      for (const scope of ['all', 'east'] as const) {
        const { key } = await t.apiKeys.create(
          {
            name: `matrix-${role}-${scope}`,
            role,
            clusters: scope === 'all' ? null : ['east'],
            expiresInMs: 600_000,
          },
          'matrix',
        );
        secrets.push(key);
        keys.set(`${role}/${scope}`, key);
      }
    }
  });

  /** Valid inputs per route, so a refusal can only come from the access decision. */
  const samples: Record<string, { body?: unknown; query?: Record<string, string> }> = {
    'POST /api/v1/rbac/bindings': { body: { subjectKind: 'user', subject: `matrix-user`, role: 'viewer' } },
    'POST /api/v1/api-keys': { body: { name: 'matrix', role: 'viewer', clusters: null, expiresInDays: 1 } },
    'POST /api/v1/clusters/:cluster/enrollment-tokens': { body: { description: 'matrix' } },
  };

  function request(route: RouteInfo, cluster: string | undefined): { path: string; body?: unknown } {
    const sample = samples[`${route.method} ${route.url}`] ?? {};
    let path = route.url.replace(':cluster', cluster ?? 'east').replace(/:[a-z]+/g, 'no-such-id');
    const query = new URLSearchParams(sample.query);
    if (!route.url.includes(':cluster') && cluster !== undefined) query.set('cluster', cluster);
    if ([...query].length) path += `?${query}`;
    // Unique subjects so a repeated allowed POST does not conflict.
    const body =
      sample.body && typeof sample.body === 'object' && 'subject' in sample.body
        ? { ...sample.body, subject: `matrix-${Math.random().toString(36).slice(2)}` }
        : sample.body;
    return { path, body };
  }

  it('covers every route of the table', () => {
    const guarded = t.routes.filter((r) => r.permission);
    expect(guarded.length).toBeGreaterThanOrEqual(9);
    // Both kinds are in the table: routes that take a cluster and routes that do not.
    expect(guarded.filter((r) => r.takesCluster).length).toBeGreaterThan(0);
    expect(guarded.filter((r) => !r.takesCluster).map((r) => `${r.method} ${r.url}`)).toEqual(
      expect.arrayContaining(['POST /api/v1/api-keys', 'DELETE /api/v1/api-keys/:id']),
    );
    for (const r of t.routes)
      expect(r.permission !== undefined || r.public, `${r.method} ${r.url}`).toBe(true);
    for (const r of guarded.filter((g) => g.method === 'POST')) {
      expect(samples[`${r.method} ${r.url}`], `sample input for ${r.method} ${r.url}`).toBeDefined();
    }
  });

  it('answers 401 on every guarded route without credentials', async () => {
    for (const route of t.routes.filter((r) => r.permission)) {
      const { path, body } = request(route, undefined);
      const answer = await call(route.method, path, undefined, body);
      expect(answer.status, `${route.method} ${path}`).toBe(401);
    }
  });

  it('allows exactly what each role grants, in and out of cluster scope', async () => {
    const failures: string[] = [];
    for (const route of t.routes.filter((r) => r.permission)) {
      const permission = route.permission as NonNullable<RouteInfo['permission']>;
      const clusterRoute = route.url.includes(':cluster');
      const targets: (string | undefined)[] = clusterRoute ? ['east', 'west'] : [undefined, 'east', 'west'];
      for (const role of ROLES) {
        for (const scope of ['all', 'east'] as const) {
          for (const target of targets) {
            // The request's cluster scope: a ?cluster= counts only on a route that declares one
            // (elsewhere it is ignored, never a way to narrow the check). A route without a
            // cluster acts on all clusters, except a list, which answers what the caller may see.
            const named = route.takesCluster ? target : undefined;
            const expected =
              roleGrants(role, permission) &&
              (scope === 'all' || named === 'east' || (named === undefined && route.scopedList));
            const { path, body } = request(route, target);
            const answer = await call(route.method, path, principalsFor(role, scope), body);
            const allowed = answer.status !== 401 && answer.status !== 403;
            if (allowed !== expected || answer.status >= 500) {
              failures.push(
                `${role}@${scope} ${route.method} ${path}: ${answer.status}, expected ${expected ? 'allowed' : 403}`,
              );
            }
          }
        }
      }
    }
    expect(failures).toEqual([]);
  });
});

describe('secrets stay secret', () => {
  it('no token, key or client secret appears in the logs', async () => {
    await t.audit.flush();
    const logs = t.logs.join('');
    expect(logs).toContain('[redacted]');
    for (const secret of secrets) {
      // Compare the signature part of JWTs: a payload may legitimately be logged as claims, a signature never.
      const needle = secret.split('.').length === 3 ? (secret.split('.')[2] as string) : secret;
      if (needle.length < 16) continue;
      expect(logs.includes(needle), `secret ${needle.slice(0, 8)}… in logs`).toBe(false);
    }
  });

  it('no token, key or client secret is stored in clear in the database', async () => {
    const { rows: tables } = await db.sql.query<{ tablename: string }>(
      "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() OR tablename LIKE 'auth_%'",
    );
    expect(tables.map((r) => r.tablename)).toEqual(
      expect.arrayContaining(['auth_bindings', 'auth_api_keys', 'auth_audit']),
    );
    let dump = '';
    for (const { tablename } of tables) {
      const { rows } = await db.sql.query(`SELECT * FROM ${tablename}`);
      dump += JSON.stringify(rows, (_k, v: unknown) =>
        v instanceof Uint8Array
          ? Buffer.from(v).toString('base64url')
          : typeof v === 'bigint'
            ? String(v)
            : v,
      );
    }
    expect(dump.length).toBeGreaterThan(1000);
    for (const secret of secrets) {
      const needle = secret.split('.').length === 3 ? (secret.split('.')[2] as string) : secret;
      if (needle.length < 16) continue;
      expect(dump.includes(needle), `secret ${needle.slice(0, 8)}… in the database`).toBe(false);
    }
  });
});

export type { Principal };
