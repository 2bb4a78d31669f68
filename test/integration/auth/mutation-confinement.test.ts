import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Authorizer } from '../../../hub/api/access.js';
import { buildApi } from '../../../hub/api/app.js';
import { buildAuth, type HubAuth } from '../../../hub/auth/build-auth.js';
import { MemoryStore } from '../../../hub/ingest/testing/memory-store.js';
import { pgliteEngine, type TestDatabase } from './support/databases.js';

/**
 * The second layer behind the access guard: the handlers that create or
 * remove bindings and API keys check, against the real RBAC authorizer, that
 * the caller holds the permission on every cluster the binding or key
 * reaches. To test that layer alone, the guard here is given an authorizer
 * that admits every request (a guard that misreads a request, as the
 * `?cluster=` escalation did); the routes keep the real one.
 */
const silent = pino({ level: 'silent' });
let db: TestDatabase;
let auth: HubAuth;
let app: FastifyInstance;
let eastAdmin = '';
let store: MemoryStore;

beforeAll(async () => {
  db = await pgliteEngine.open();
  store = new MemoryStore();
  auth = buildAuth(
    {
      bootstrapAdmins: { users: [], groups: [] },
      apiKeyMaxLifetimeDays: 1,
      corsOrigins: [],
      rateLimitPerMinute: 100_000,
      tls: false,
    },
    { sql: db.sql, enrollmentTokens: store.enrollmentTokens, logger: silent },
  );
  const admitsEverything: Authorizer = {
    allowed: async () => true,
    scope: async () => ({ all: true }),
  };
  app = await buildApi({
    store,
    authenticator: auth.authenticator,
    authorizer: admitsEverything,
    logger: silent,
    extensions: [auth.routes],
  });
  await app.ready();
  eastAdmin = (
    await auth.apiKeys.create(
      { name: 'east-admin', role: 'admin', clusters: ['east'], expiresInMs: 600_000 },
      't',
    )
  ).key;
});

afterAll(async () => {
  await app?.close();
  await auth?.close();
  await db?.close();
});

const call = (method: 'POST' | 'DELETE', url: string, payload?: object) =>
  app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${eastAdmin}` },
    ...(payload ? { payload } : {}),
  });

describe('binding and API-key mutations are confined to the caller’s clusters, whatever the guard admitted', () => {
  it('refuses to mint a key reaching beyond east, and mints one confined to east', async () => {
    const before = (await auth.apiKeys.list()).length;
    for (const clusters of [null, ['east', 'west'], ['west']]) {
      const answer = await call('POST', '/api/v1/api-keys', {
        name: 'k',
        role: 'admin',
        clusters,
        expiresInDays: 1,
      });
      expect(answer.statusCode, JSON.stringify(clusters)).toBe(403);
      expect(answer.headers['content-type']).toContain('application/problem+json');
      expect(answer.json()).toMatchObject({ code: 'forbidden' });
    }
    expect(await auth.apiKeys.list()).toHaveLength(before);
    const confined = await call('POST', '/api/v1/api-keys', {
      name: 'east-bot',
      role: 'viewer',
      clusters: ['east'],
      expiresInDays: 1,
    });
    expect(confined.statusCode, confined.body).toBe(201);
  });

  it('refuses to revoke a key that reaches beyond east, and revokes an east key', async () => {
    const hubWide = await auth.apiKeys.create(
      { name: 'hub', role: 'viewer', clusters: null, expiresInMs: 60_000 },
      't',
    );
    const both = await auth.apiKeys.create(
      { name: 'both', role: 'viewer', clusters: ['east', 'west'], expiresInMs: 60_000 },
      't',
    );
    const east = await auth.apiKeys.create(
      { name: 'e', role: 'viewer', clusters: ['east'], expiresInMs: 60_000 },
      't',
    );
    for (const id of [hubWide.info.id, both.info.id]) {
      expect((await call('DELETE', `/api/v1/api-keys/${id}`)).statusCode).toBe(403);
      expect((await auth.apiKeys.get(id))?.revokedMs).toBeNull();
    }
    expect((await call('DELETE', `/api/v1/api-keys/${east.info.id}`)).statusCode).toBe(204);
    expect((await auth.apiKeys.get(east.info.id))?.revokedMs).not.toBeNull();
  });

  it('refuses an all-clusters or west binding and the removal of one, and allows them on east', async () => {
    const body = { subjectKind: 'user', subject: 'someone', role: 'admin' };
    expect((await call('POST', '/api/v1/rbac/bindings', body)).statusCode).toBe(403);
    expect((await call('POST', '/api/v1/rbac/bindings?cluster=west', body)).statusCode).toBe(403);
    const hubWide = await auth.bindings.create(
      { ...body, subjectKind: 'user', role: 'admin', cluster: null },
      't',
    );
    expect((await call('DELETE', `/api/v1/rbac/bindings/${hubWide.id}`)).statusCode).toBe(403);
    expect(await auth.bindings.get(hubWide.id)).not.toBeNull();
    const onEast = await call('POST', '/api/v1/rbac/bindings?cluster=east', body);
    expect(onEast.statusCode, onEast.body).toBe(201);
    const id = onEast.json<{ id: string }>().id;
    expect((await call('DELETE', `/api/v1/rbac/bindings/${id}?cluster=east`)).statusCode).toBe(204);
  });

  it('refuses to create or revoke an enrollment token of another cluster, and allows them on east', async () => {
    const west = await call('POST', '/api/v1/clusters/west/enrollment-tokens', { description: 'x' });
    expect(west.statusCode).toBe(403);
    const westToken = await store.enrollmentTokens.create('west', 'existing');
    const revokeWest = await call('DELETE', `/api/v1/clusters/west/enrollment-tokens/${westToken.info.id}`);
    expect(revokeWest.statusCode).toBe(403);
    expect(
      (await store.enrollmentTokens.list('west')).find((t) => t.id === westToken.info.id)?.revokedMs,
    ).toBeFalsy();
    const east = await call('POST', '/api/v1/clusters/east/enrollment-tokens', { description: 'x' });
    expect(east.statusCode, east.body).toBe(201);
    const id = east.json<{ enrollmentToken: { id: string } }>().enrollmentToken.id;
    expect((await call('DELETE', `/api/v1/clusters/east/enrollment-tokens/${id}`)).statusCode).toBe(204);
  });
});
