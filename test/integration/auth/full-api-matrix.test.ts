import { Registry } from 'prom-client';
import { metricsRoute } from '../../../hub/api/routes/metrics.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Authorizer, Permission, Principal } from '../../../hub/api/access.js';
import { buildApi } from '../../../hub/api/app.js';
import { buildAuth, type HubAuth } from '../../../hub/auth/build-auth.js';
import { authMigrations } from '../../../hub/auth/migrations.js';
import { roleGrants, ROLES, type Role } from '../../../hub/auth/rbac/roles.js';
import { openStore } from '../../../hub/store/index.js';
import type { Store } from '../../../hub/store/store.js';

/**
 * The route × role matrix over the hub's whole REST API as buildApi
 * assembles it (core, fleet and auth routes) on the real store (embedded
 * PGlite). The route table is the OpenAPI document; the permission of each
 * route is what the route asks the authorizer for, recorded on a first pass
 * with an all-powerful key. A route that never asks must be one of the
 * declared public or self-authenticating routes.
 */
const PUBLIC_OR_SELF = new Set(['GET /healthz', 'GET /readyz', 'GET /api/v1/me']);
const silent = pino({ level: 'silent' });

/** Valid bodies, so that a refusal can only come from the access decision. */
const BODIES: Record<string, () => unknown> = {
  'POST /api/v1/rbac/bindings': () => ({
    subjectKind: 'user',
    subject: `matrix-${Math.random().toString(36).slice(2)}`,
    role: 'viewer',
  }),
  'POST /api/v1/api-keys': () => ({ name: 'matrix', role: 'viewer', clusters: null, expiresInDays: 1 }),
  'POST /api/v1/clusters/:cluster/enrollment-tokens': () => ({ description: 'matrix' }),
};

interface Route {
  readonly method: string;
  readonly url: string;
}

let dataDir: string;
let store: Store;
let auth: HubAuth;
let app: FastifyInstance;
let routes: Route[];
const asked: Permission[] = [];
const keys = new Map<string, string>();

// Opening the embedded store takes long on a busy 2-core machine.
beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'aiops-auth-matrix-'));
  store = await openStore(
    { dataDir, retentionDays: 30, extraMigrations: authMigrations, embeddedInline: true },
    silent,
  );
  auth = buildAuth(
    {
      bootstrapAdmins: { users: [], groups: [] },
      apiKeyMaxLifetimeDays: 1,
      corsOrigins: [],
      rateLimitPerMinute: 100_000,
      tls: false,
    },
    { sql: store.sql, enrollmentTokens: store.enrollmentTokens, logger: silent },
  );
  const recording: Authorizer = {
    allowed: (principal: Principal, permission: Permission, cluster?: string) => {
      asked.push(permission);
      return auth.authorizer.allowed(principal, permission, cluster);
    },
    scope: (principal, permission) => auth.authorizer.scope(principal, permission),
  };
  app = await buildApi({
    store,
    authenticator: auth.authenticator,
    authorizer: recording,
    logger: silent,
    // The same API extensions as hub/build-hub.ts mounts (the WebSocket
    // stream is self-authenticated and covered by its own suite).
    extensions: [async (api) => metricsRoute(api, new Registry()), auth.routes],
  });
  await app.ready();
  const doc = app.swagger() as { paths: Record<string, Record<string, unknown>> };
  routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.keys(ops).map((m) => ({ method: m.toUpperCase(), url: path.replace(/\{(\w+)\}/g, ':$1') })),
  );
  for (const role of ROLES) {
    for (const scope of ['all', 'east'] as const) {
      const { key } = await auth.apiKeys.create(
        {
          name: `${role}-${scope}`,
          role,
          clusters: scope === 'all' ? null : ['east'],
          expiresInMs: 3_600_000,
        },
        'matrix',
      );
      keys.set(`${role}/${scope}`, key);
    }
  }
}, 180_000);

afterAll(async () => {
  await app?.close();
  await auth?.close();
  await store?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

function inject(route: Route, cluster: string | undefined, key: string | undefined) {
  let url = route.url.replace(':cluster', cluster ?? 'east').replace(/:\w+/g, 'no-such-id');
  if (!route.url.includes(':cluster') && cluster !== undefined) url += `?cluster=${cluster}`;
  const body = BODIES[`${route.method} ${route.url}`]?.();
  return app.inject({
    method: route.method as 'GET',
    url,
    headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
    ...(body === undefined ? {} : { payload: body as object }),
  });
}

describe('route × role matrix over the whole API', () => {
  const permissions = new Map<string, Permission>();

  it('every route in the table asks for a permission, unless declared public or self-authenticating', async () => {
    expect(routes.length).toBeGreaterThanOrEqual(20);
    const unguarded: string[] = [];
    for (const route of routes) {
      asked.length = 0;
      const answer = await inject(
        route,
        route.url.includes(':cluster') ? 'east' : undefined,
        keys.get('admin/all'),
      );
      expect(answer.statusCode, `${route.method} ${route.url}: ${answer.body}`).toBeLessThan(500);
      const id = `${route.method} ${route.url}`;
      if (asked.length > 0) permissions.set(id, asked[asked.length - 1] as Permission);
      else if (!PUBLIC_OR_SELF.has(id)) unguarded.push(id);
    }
    expect(unguarded).toEqual([]);
    for (const post of routes.filter((r) => r.method === 'POST')) {
      expect(BODIES[`${post.method} ${post.url}`], `sample body for ${post.url}`).toBeDefined();
    }
  });

  it('answers 401 with problem+json on every guarded route without credentials', async () => {
    for (const route of routes.filter((r) => permissions.has(`${r.method} ${r.url}`))) {
      const answer = await inject(route, undefined, undefined);
      expect(answer.statusCode, `${route.method} ${route.url}`).toBe(401);
      expect(answer.headers['content-type']).toContain('application/problem+json');
    }
  });

  it('allows exactly what each role grants, in and out of cluster scope', async () => {
    const failures: string[] = [];
    let checked = 0;
    for (const route of routes) {
      const permission = permissions.get(`${route.method} ${route.url}`);
      if (!permission) continue;
      const targets: (string | undefined)[] = route.url.includes(':cluster')
        ? ['east', 'west']
        : [undefined, 'east', 'west'];
      for (const role of ROLES as readonly Role[]) {
        for (const scope of ['all', 'east'] as const) {
          for (const target of targets) {
            const expected = roleGrants(role, permission) && (scope === 'all' || target === 'east');
            const answer = await inject(route, target, keys.get(`${role}/${scope}`));
            checked++;
            const allowed = answer.statusCode !== 401 && answer.statusCode !== 403;
            if (allowed !== expected || answer.statusCode >= 500) {
              failures.push(
                `${role}@${scope} ${route.method} ${route.url} cluster=${target ?? '-'}: ${answer.statusCode}, expected ${expected ? 'allowed' : 403}`,
              );
            }
          }
        }
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBeGreaterThan(200);
  });
});
