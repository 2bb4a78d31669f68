import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Authenticator, Permission, Principal } from '../../api/access.js';
import { clusterFilter } from '../../api/access-guard.js';
import { decodeAuditCursor, encodeAuditCursor } from '../../api/cursors.js';
import { problemResponses } from '../../api/schemas.js';
import { AuthenticationError, ForbiddenError, NotFoundError } from '../../errors.js';
import type { EnrollmentTokens } from '../../store/store.js';
import type { ApiKeys } from '../api-keys/api-keys.js';
import type { AuditLog, AuditOutcome } from '../audit/audit-log.js';
import type { BindingRepository } from '../rbac/bindings.js';
import type { RbacAuthorizer } from '../rbac/rbac-authorizer.js';
import { rolePermissions } from '../rbac/roles.js';

export interface AuthRoutesDeps {
  readonly authenticator: Authenticator;
  readonly authorizer: RbacAuthorizer;
  readonly bindings: BindingRepository;
  readonly apiKeys: ApiKeys;
  readonly enrollmentTokens: EnrollmentTokens;
  readonly audit: AuditLog;
  /** Called after an enrollment token is revoked, so ingest can close that token's streams. */
  readonly onEnrollmentTokenRevoked?: (tokenId: string) => void;
}

const P = {
  listRbac: { verb: 'list', resource: 'rbac' },
  createRbac: { verb: 'create', resource: 'rbac' },
  deleteRbac: { verb: 'delete', resource: 'rbac' },
  listCredentials: { verb: 'list', resource: 'credentials' },
  createCredentials: { verb: 'create', resource: 'credentials' },
  deleteCredentials: { verb: 'delete', resource: 'credentials' },
  listAudit: { verb: 'list', resource: 'audit' },
} as const satisfies Record<string, Permission>;

const Cluster = Type.String({ pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$', description: 'cluster name' });
const ClusterQuery = Type.Object({
  cluster: Type.Optional(
    Type.Union([Cluster], { description: 'scope to one cluster; omitted: all clusters' }),
  ),
});
const RoleSchema = Type.Union([Type.Literal('viewer'), Type.Literal('operator'), Type.Literal('admin')]);
const SubjectKind = Type.Union([Type.Literal('user'), Type.Literal('group'), Type.Literal('api-key')]);

const BindingSchema = Type.Object({
  id: Type.String(),
  subjectKind: SubjectKind,
  subject: Type.String(),
  role: RoleSchema,
  cluster: Type.Union([Type.String(), Type.Null()], { description: 'null: every cluster' }),
  createdBy: Type.String(),
  createdMs: Type.Integer(),
});

const ApiKeySchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  role: RoleSchema,
  clusters: Type.Union([Type.Array(Type.String()), Type.Null()], { description: 'null: every cluster' }),
  createdBy: Type.String(),
  createdMs: Type.Integer(),
  expiresMs: Type.Integer(),
  revokedMs: Type.Union([Type.Integer(), Type.Null()]),
  lastUsedMs: Type.Union([Type.Integer(), Type.Null()]),
});

const EnrollmentTokenSchema = Type.Object({
  id: Type.String(),
  cluster: Type.String(),
  description: Type.String(),
  createdMs: Type.Integer(),
  revokedMs: Type.Union([Type.Integer(), Type.Null()]),
});

const Outcome = Type.Union([
  Type.Literal('success'),
  Type.Literal('failure'),
  Type.Literal('unauthenticated'),
  Type.Literal('forbidden'),
]);

const AuditEntrySchema = Type.Object({
  id: Type.Integer(),
  timeMs: Type.Integer(),
  outcome: Outcome,
  action: Type.String(),
  principalKind: Type.Optional(Type.String()),
  principalId: Type.Optional(Type.String()),
  principalName: Type.Optional(Type.String()),
  cluster: Type.Optional(Type.String()),
  method: Type.Optional(Type.String()),
  path: Type.Optional(Type.String()),
  status: Type.Optional(Type.Integer()),
  reason: Type.Optional(Type.String()),
  remoteAddr: Type.Optional(Type.String()),
});

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });
const mutationResponses = { ...problemResponses, 404: problemResponses[400], 409: problemResponses[400] };

/**
 * Identity, RBAC administration, API keys, enrollment tokens and the audit
 * log, mounted under /api/v1 (buildApi's `extensions`). The access guard
 * checks each route's permission, on the `cluster` path or query parameter
 * when the route's schema takes one and the request names it; without one,
 * lists (scopedList) answer the caller's clusters and everything else needs
 * all clusters. So a cluster-scoped admin manages the bindings and enrollment
 * tokens of their cluster and sees the API keys that can act on it, while
 * creating or revoking API keys (no `cluster` parameter: a key can reach
 * several clusters) needs admin on all clusters. Mutations of bindings and
 * keys also check, in the handler, that the caller holds the permission on
 * every cluster the binding or key reaches (`confine`).
 */
export function authRoutes(deps: AuthRoutesDeps): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    await app.register(routes, deps);
  };
}

const routes: FastifyPluginAsyncTypebox<AuthRoutesDeps> = async (app, deps) => {
  const who = (request: FastifyRequest): Principal => {
    if (!request.principal) throw new AuthenticationError('missing bearer token');
    return request.principal;
  };

  /**
   * Second layer behind the access guard for credential and RBAC mutations:
   * whatever the guard decided from the request, the caller must hold
   * `permission` on every cluster the created or removed thing reaches
   * (`null`: all clusters, which only an all-clusters caller has). A change
   * to how the guard reads a request (the `?cluster=` escalation) then still
   * cannot hand out or take away rights beyond the caller's own.
   */
  const confine = async (
    request: FastifyRequest,
    permission: Permission,
    clusters: readonly string[] | null,
    what: string,
  ): Promise<void> => {
    const principal = who(request);
    const scope = await deps.authorizer.scope(principal, permission);
    if (scope.all) return;
    const outside = clusters === null ? null : clusters.filter((c) => !scope.clusters.includes(c));
    if (outside === null || outside.length > 0) {
      throw new ForbiddenError(
        `${principal.name} may not ${permission.verb} ${permission.resource} on ${
          outside === null ? 'all clusters' : `cluster "${outside.join('", "')}"`
        }, which ${what} reaches`,
      );
    }
  };

  app.get(
    '/me',
    {
      // Every authenticated caller may see itself whatever its bindings, so no
      // permission applies: the route authenticates on its own (401 without
      // valid credentials) and returns nothing but the caller's own identity.
      config: { selfAuthenticated: true },
      schema: {
        summary: 'The calling principal, its groups and effective bindings',
        tags: ['auth'],
        response: {
          200: Type.Object({
            kind: Type.String(),
            id: Type.String(),
            name: Type.String(),
            groups: Type.Array(Type.String()),
            expiresAtMs: Type.Optional(Type.Integer()),
            bindings: Type.Array(
              Type.Object({
                role: RoleSchema,
                cluster: Type.Union([Type.String(), Type.Null()]),
                source: Type.String(),
                bindingId: Type.Optional(Type.String()),
                permissions: Type.Array(Type.String()),
              }),
            ),
          }),
          401: problemResponses[401],
        },
      },
    },
    async (request) => {
      const header = request.headers.authorization;
      const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (header !== undefined && !m)
        throw new AuthenticationError('Authorization header must be "Bearer <token>"');
      const principal = await deps.authenticator.authenticate({ bearerToken: m?.[1] });
      if (!principal) throw new AuthenticationError('missing bearer token');
      request.principal = principal;
      const bindings = await deps.authorizer.effectiveBindings(principal);
      return {
        ...principal,
        groups: [...principal.groups],
        bindings: bindings.map((b) => ({
          ...b,
          permissions: rolePermissions(b.role).map((p) => `${p.verb} ${p.resource}`),
        })),
      };
    },
  );

  app.get(
    '/rbac/bindings',
    {
      config: { permission: P.listRbac, scopedList: true },
      schema: {
        summary:
          "List role bindings: of ?cluster=, else of the caller's clusters (all-clusters bindings included)",
        tags: ['auth'],
        querystring: ClusterQuery,
        response: { 200: Type.Object({ bindings: Type.Array(BindingSchema) }), ...problemResponses },
      },
    },
    async (request) => ({ bindings: await deps.bindings.list(clusterFilter(request)) }),
  );

  app.post(
    '/rbac/bindings',
    {
      config: { permission: P.createRbac },
      schema: {
        summary: 'Bind a user, group or API key to a role, on ?cluster= or on all clusters',
        tags: ['auth'],
        querystring: ClusterQuery,
        body: Type.Object(
          {
            subjectKind: SubjectKind,
            subject: Type.String({ minLength: 1, maxLength: 256 }),
            role: RoleSchema,
          },
          { additionalProperties: false },
        ),
        response: { 201: BindingSchema, ...mutationResponses },
      },
    },
    async (request, reply) => {
      const cluster = request.query.cluster ?? null;
      await confine(request, P.createRbac, cluster === null ? null : [cluster], 'the binding');
      const binding = await deps.bindings.create({ ...request.body, cluster }, who(request).name);
      deps.authorizer.invalidate();
      return reply.code(201).send(binding);
    },
  );

  app.delete(
    '/rbac/bindings/:id',
    {
      config: { permission: P.deleteRbac },
      schema: {
        summary: 'Delete a role binding (give ?cluster= for a binding on that cluster)',
        tags: ['auth'],
        params: IdParams,
        querystring: ClusterQuery,
        response: { 204: Type.Null(), ...mutationResponses },
      },
    },
    async (request, reply) => {
      const binding = await deps.bindings.get(request.params.id);
      // A cluster admin sees only its cluster's bindings: anything else is "not found".
      if (!binding || (request.query.cluster !== undefined && binding.cluster !== request.query.cluster)) {
        throw new NotFoundError(`no binding ${request.params.id}`);
      }
      await confine(
        request,
        P.deleteRbac,
        binding.cluster === null ? null : [binding.cluster],
        'the binding',
      );
      await deps.bindings.delete(binding.id);
      deps.authorizer.invalidate();
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api-keys',
    {
      config: { permission: P.listRbac, scopedList: true },
      schema: {
        summary:
          "List API keys (never their secrets) that can act on ?cluster=, else on the caller's clusters",
        tags: ['auth'],
        querystring: ClusterQuery,
        response: { 200: Type.Object({ apiKeys: Type.Array(ApiKeySchema) }), ...problemResponses },
      },
    },
    async (request) => {
      const { cluster, clusters } = clusterFilter(request);
      const keys = await deps.apiKeys.list({ clusters: cluster === undefined ? clusters : [cluster] });
      return { apiKeys: keys.map((k) => ({ ...k, clusters: k.clusters && [...k.clusters] })) };
    },
  );

  app.post(
    '/api-keys',
    {
      config: { permission: P.createRbac },
      schema: {
        summary: 'Create an API key; the key is in this response only',
        tags: ['auth'],
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 128 }),
            role: RoleSchema,
            clusters: Type.Union([Type.Array(Cluster, { minItems: 1, maxItems: 256 }), Type.Null()], {
              description: 'null: every cluster',
            }),
            expiresInDays: Type.Integer({ minimum: 1, maximum: 365 }),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({ apiKey: ApiKeySchema, key: Type.String({ description: 'shown once' }) }),
          ...mutationResponses,
        },
      },
    },
    async (request, reply) => {
      const { name, role, clusters, expiresInDays } = request.body;
      await confine(request, P.createRbac, clusters, 'the key');
      const { info, key } = await deps.apiKeys.create(
        { name, role, clusters, expiresInMs: expiresInDays * 86_400_000 },
        who(request).name,
      );
      return reply
        .code(201)
        .send({ apiKey: { ...info, clusters: info.clusters && [...info.clusters] }, key });
    },
  );

  app.delete(
    '/api-keys/:id',
    {
      config: { permission: P.deleteRbac },
      schema: {
        summary: 'Revoke an API key (effective immediately)',
        tags: ['auth'],
        params: IdParams,
        response: { 204: Type.Null(), ...mutationResponses },
      },
    },
    async (request, reply) => {
      const existing = await deps.apiKeys.get(request.params.id);
      if (!existing) throw new NotFoundError(`no API key ${request.params.id}`);
      await confine(request, P.deleteRbac, existing.clusters, 'the key');
      if (!(await deps.apiKeys.revoke(existing.id)))
        throw new NotFoundError(`no API key ${request.params.id}`);
      deps.authorizer.invalidate();
      return reply.code(204).send(null);
    },
  );

  const ClusterParams = Type.Object({ cluster: Cluster });

  app.get(
    '/enrollment-tokens',
    {
      config: { permission: P.listCredentials, scopedList: true },
      schema: {
        summary:
          "List agent enrollment tokens (never their secrets) of ?cluster=, else of the caller's clusters",
        tags: ['auth'],
        querystring: ClusterQuery,
        response: {
          200: Type.Object({ enrollmentTokens: Type.Array(EnrollmentTokenSchema) }),
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const { cluster, clusters } = clusterFilter(request);
      return { enrollmentTokens: await deps.enrollmentTokens.list(cluster ?? clusters) };
    },
  );

  app.get(
    '/clusters/:cluster/enrollment-tokens',
    {
      config: { permission: P.listCredentials },
      schema: {
        summary: "List a cluster's agent enrollment tokens (never their secrets)",
        tags: ['auth'],
        params: ClusterParams,
        response: {
          200: Type.Object({ enrollmentTokens: Type.Array(EnrollmentTokenSchema) }),
          ...problemResponses,
        },
      },
    },
    async (request) => ({ enrollmentTokens: await deps.enrollmentTokens.list(request.params.cluster) }),
  );

  app.post(
    '/clusters/:cluster/enrollment-tokens',
    {
      config: { permission: P.createCredentials },
      schema: {
        summary: 'Create an agent enrollment token for a cluster; the token is in this response only',
        tags: ['auth'],
        params: ClusterParams,
        body: Type.Object(
          { description: Type.String({ maxLength: 256, default: '' }) },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({
            enrollmentToken: EnrollmentTokenSchema,
            token: Type.String({ description: 'shown once' }),
          }),
          ...mutationResponses,
        },
      },
    },
    async (request, reply) => {
      // Second layer behind the guard's path check, as for bindings and keys.
      await confine(request, P.createCredentials, [request.params.cluster], 'the token');
      const { info, token } = await deps.enrollmentTokens.create(
        request.params.cluster,
        request.body.description,
      );
      return reply.code(201).send({ enrollmentToken: info, token });
    },
  );

  app.delete(
    '/clusters/:cluster/enrollment-tokens/:id',
    {
      config: { permission: P.deleteCredentials },
      schema: {
        summary: "Revoke an enrollment token; the agents' open streams using it are closed",
        tags: ['auth'],
        params: Type.Object({ cluster: Cluster, id: Type.String({ minLength: 1, maxLength: 128 }) }),
        response: { 204: Type.Null(), ...mutationResponses },
      },
    },
    async (request, reply) => {
      const { cluster, id } = request.params;
      await confine(request, P.deleteCredentials, [cluster], 'the token');
      const owned = (await deps.enrollmentTokens.list(cluster)).some((t) => t.id === id);
      if (!owned || !(await deps.enrollmentTokens.revoke(id))) {
        throw new NotFoundError(`no enrollment token ${id} in cluster ${cluster}`);
      }
      deps.onEnrollmentTokenRevoked?.(id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/audit',
    {
      config: { permission: P.listAudit, scopedList: true },
      schema: {
        summary:
          'The audit log, newest first, with cursor pagination; a caller bound to some clusters sees only their entries',
        tags: ['auth'],
        querystring: Type.Object({
          cluster: Type.Optional(Cluster),
          since: Type.Optional(Type.Integer({ minimum: 0, description: 'epoch ms' })),
          until: Type.Optional(Type.Integer({ minimum: 0, description: 'epoch ms' })),
          outcome: Type.Optional(Outcome),
          principal: Type.Optional(Type.String({ maxLength: 512, description: 'principal id' })),
          limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
          cursor: Type.Optional(
            Type.String({ maxLength: 512, description: 'nextCursor of the previous page (opaque)' }),
          ),
        }),
        response: {
          200: Type.Object({
            entries: Type.Array(AuditEntrySchema),
            nextCursor: Type.Union([Type.String(), Type.Null()], {
              description: 'cursor of the next page; null when this page is the last',
            }),
          }),
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const q = request.query;
      const { cluster, clusters } = clusterFilter(request);
      const entries = await deps.audit.query({
        sinceMs: q.since,
        untilMs: q.until,
        outcome: q.outcome as AuditOutcome | undefined,
        principalId: q.principal,
        // Entries without a cluster (failed logins, hub-wide actions) only at all-clusters scope.
        clusters: cluster === undefined ? clusters : [cluster],
        beforeId: q.cursor === undefined ? undefined : decodeAuditCursor(q.cursor),
        // One more than asked tells whether another page exists (no empty last page).
        limit: q.limit + 1,
      });
      const page = entries.slice(0, q.limit);
      const last = page.at(-1);
      return {
        entries: page,
        nextCursor: entries.length > q.limit && last ? encodeAuditCursor(last.id) : null,
      };
    },
  );
};
