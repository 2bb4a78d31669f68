import { once } from 'node:events';
import { Registry } from 'prom-client';
import { WebSocket } from 'ws';
import { metricsRoute } from '../../../hub/api/routes/metrics.js';
import { MemoryBus } from '../../../hub/bus/memory-bus.js';
import { registerStreamRoute } from '../../../hub/stream/route.js';
import { bearerProtocol } from '../../../hub/stream/credentials.js';
import { STREAM_SUBPROTOCOL } from '../../../hub/stream/protocol.js';
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
 * The route × role matrix over the hub's whole API as build-hub assembles it
 * (core, fleet, auth and metrics routes, and the WebSocket stream) on the
 * real store (embedded PGlite). The route table is the OpenAPI document; the
 * permission of each route is what the route asks the authorizer for,
 * recorded on a first pass with an all-powerful key, and whether it asked for
 * the caller's scope (a list filtered to it) or for a yes/no on all
 * clusters. A route that never asks must be one of the declared public or
 * self-authenticating routes; the stream, self-authenticating, gets its own
 * matrix over a real socket.
 */
const STREAM = 'GET /api/v1/stream';
const PUBLIC_OR_SELF = new Set(['GET /healthz', 'GET /readyz', 'GET /api/v1/me', STREAM]);
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
/** Every route the app registered (the route table), as seen by an onRoute hook. */
const routes: Route[] = [];
/** The routes in the OpenAPI document. */
let documented: string[];
/** Documented routes that declare a `cluster` path or query parameter. */
const takesCluster = new Set<string>();
const asked: { permission: Permission; scoped: boolean }[] = [];
let streamUrl: string;
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
      asked.push({ permission, scoped: false });
      return auth.authorizer.allowed(principal, permission, cluster);
    },
    scope: (principal, permission) => {
      asked.push({ permission, scoped: true });
      return auth.authorizer.scope(principal, permission);
    },
  };
  app = await buildApi({
    store,
    authenticator: auth.authenticator,
    authorizer: recording,
    logger: silent,
    // Sees every route registered after it: core, fleet, auth, metrics, the stream.
    beforeRoutes: async (root) => {
      root.addHook('onRoute', (route) => {
        for (const method of [route.method].flat()) {
          if (method === 'HEAD' || method === 'OPTIONS') continue;
          // The documentation page and its assets are public by prefix, no data.
          if (route.url.startsWith('/api/v1/docs') || route.url === '/api/v1/openapi.json') continue;
          routes.push({ method, url: route.url });
        }
      });
    },
    // The same API extensions as hub/build-hub.ts mounts.
    extensions: [async (api) => metricsRoute(api, new Registry()), auth.routes],
    rootExtensions: [
      async (root) => {
        await registerStreamRoute(root, {
          bus: new MemoryBus({ logger: silent }),
          authenticator: auth.authenticator,
          authorizer: auth.authorizer,
          logger: silent,
          registry: new Registry(),
        });
      },
    ],
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  streamUrl = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}/api/v1/stream`;
  const doc = app.swagger() as {
    paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>>;
  };
  documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([m, op]) => {
      const id = `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`;
      // What a client reads: whether the operation documents a cluster parameter.
      if (op.parameters?.some((p) => p.name === 'cluster' && (p.in === 'path' || p.in === 'query')))
        takesCluster.add(id);
      return id;
    }),
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
  /** Routes that, without a cluster, answer a list filtered to the caller's scope. */
  const scopedLists = new Set<string>();

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
      const last = asked[asked.length - 1];
      if (last) {
        permissions.set(id, last.permission);
        if (last.scoped) scopedLists.add(id);
      } else if (!PUBLIC_OR_SELF.has(id)) unguarded.push(id);
    }
    expect(unguarded).toEqual([]);
    // The stream is in the route table, so the stream matrix below is part of "every route";
    // every other route is in the OpenAPI document (the stream is in docs/streaming.md).
    const ids = routes.map((r) => `${r.method} ${r.url}`);
    expect(ids).toContain(STREAM);
    expect(ids.filter((id) => id !== STREAM && !documented.includes(id))).toEqual([]);
    // Both kinds are in the table, the hub-wide ones among those that take no cluster.
    expect([...takesCluster]).toContain('GET /api/v1/fleet/gpus');
    expect(ids.filter((id) => id !== STREAM && !takesCluster.has(id))).toEqual(
      expect.arrayContaining(['POST /api/v1/api-keys', 'DELETE /api/v1/api-keys/:id', 'GET /api/v1/metrics']),
    );
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
            // A ?cluster= counts only where the route declares a cluster parameter; elsewhere
            // it must not narrow the check (it once minted all-clusters keys for an east admin).
            // Without a cluster, a list answers what the caller may see (its clusters); any
            // other route then acts on all clusters.
            const id = `${route.method} ${route.url}`;
            const named = takesCluster.has(id) ? target : undefined;
            const listsOwn = named === undefined && scopedLists.has(id);
            const expected =
              roleGrants(role, permission) && (scope === 'all' || named === 'east' || listsOwn);
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

/** Opens the stream with `headers`/`protocols`; resolves with the socket, or the refused upgrade's status and body. */
async function openStream(
  headers: Record<string, string>,
  protocols: string[] = [],
): Promise<{ socket?: WebSocket; status?: number; type?: string; body?: string }> {
  const socket = new WebSocket(streamUrl, protocols, { headers });
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve({ socket }));
    socket.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode, type: String(res.headers['content-type']), body }),
      );
    });
    socket.once('error', reject);
  });
}

/** Sends a subscribe and waits for its ack or error. */
async function subscribe(
  socket: WebSocket,
  id: string,
  stream: string,
  cluster: string | undefined,
): Promise<{ type: string; clusters?: string[] | '*'; code?: string }> {
  const reply = new Promise<{ type: string; clusters?: string[] | '*'; code?: string }>((resolve) => {
    const onMessage = (data: Buffer) => {
      const msg = JSON.parse(data.toString()) as { type: string; id?: string };
      if (msg.id === id && (msg.type === 'ack' || msg.type === 'error')) {
        socket.off('message', onMessage);
        resolve(msg);
      }
    };
    socket.on('message', onMessage);
  });
  socket.send(
    JSON.stringify({ type: 'subscribe', id, stream, selector: cluster === undefined ? {} : { cluster } }),
  );
  return reply;
}

describe('route × role matrix over the WebSocket stream (GET /api/v1/stream)', () => {
  it('refuses the upgrade without a credential or with a bad one: 401 problem+json, no socket', async () => {
    const cases: { name: string; headers: Record<string, string>; protocols?: string[] }[] = [
      { name: 'no credential', headers: {} },
      {
        name: 'unknown API key',
        headers: { authorization: `Bearer aiok_${'0'.repeat(16)}_${'A'.repeat(43)}` },
      },
      { name: 'not a token', headers: { authorization: 'Bearer garbage' } },
      {
        name: 'bad token in the browser subprotocol',
        headers: {},
        protocols: [STREAM_SUBPROTOCOL, bearerProtocol('aiok_not-a-key')],
      },
    ];
    for (const c of cases) {
      const answer = await openStream(c.headers, c.protocols);
      answer.socket?.close();
      expect(answer.socket, c.name).toBeUndefined();
      expect(answer.status, c.name).toBe(401);
      expect(answer.type, c.name).toContain('application/problem+json');
      expect(JSON.parse(answer.body ?? '{}'), c.name).toMatchObject({ code: 'unauthenticated' });
    }
  });

  it('admits every valid credential and allows each subscription exactly as role and cluster scope grant', async () => {
    const failures: string[] = [];
    let checked = 0;
    const streams = { samples: 'telemetry', events: 'events', anomalies: 'anomalies' } as const;
    for (const role of ROLES as readonly Role[]) {
      for (const scope of ['all', 'east'] as const) {
        const opened = await openStream({ authorization: `Bearer ${keys.get(`${role}/${scope}`)}` });
        if (!opened.socket) {
          failures.push(`${role}@${scope}: upgrade refused with ${opened.status}`);
          continue;
        }
        let n = 0;
        for (const [stream, resource] of Object.entries(streams)) {
          for (const target of [undefined, 'east', 'west']) {
            const granted = roleGrants(role, { verb: 'watch', resource });
            const expected = granted && (scope === 'all' || target !== 'west');
            const reply = await subscribe(opened.socket, `m${n++}`, stream, target);
            checked++;
            const what = `${role}@${scope} watch ${stream} cluster=${target ?? '-'}`;
            if ((reply.type === 'ack') !== expected) {
              failures.push(
                `${what}: ${reply.type} ${reply.code ?? ''}, expected ${expected ? 'ack' : 'forbidden'}`,
              );
            } else if (!expected && reply.code !== 'forbidden') {
              failures.push(`${what}: error ${reply.code}, expected forbidden`);
            } else if (expected) {
              // The ack names the clusters the subscription will see.
              const clusters = target ?? (scope === 'all' ? '*' : ['east']);
              const want = clusters === '*' ? '*' : [clusters].flat();
              if (JSON.stringify(reply.clusters) !== JSON.stringify(want))
                failures.push(
                  `${what}: sees ${JSON.stringify(reply.clusters)}, expected ${JSON.stringify(want)}`,
                );
            }
          }
        }
        opened.socket.close();
        await once(opened.socket, 'close');
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBe(ROLES.length * 2 * 3 * 3);
  });
});
