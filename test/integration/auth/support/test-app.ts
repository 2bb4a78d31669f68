import { Writable } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Permission } from '../../../../hub/api/access.js';
import { installAccessGuard } from '../../../../hub/api/access-guard.js';
import { installProblemHandlers } from '../../../../hub/api/problem.js';
import { ProblemSchema } from '../../../../hub/api/schemas.js';
import type { ApiKeys } from '../../../../hub/auth/api-keys/api-keys.js';
import type { AuditLog } from '../../../../hub/auth/audit/audit-log.js';
import { buildAuth } from '../../../../hub/auth/build-auth.js';
import type { BindingRepository } from '../../../../hub/auth/rbac/bindings.js';
import type { OidcConfig } from '../../../../hub/auth/oidc/oidc-config.js';
import type { RbacAuthorizer } from '../../../../hub/auth/rbac/rbac-authorizer.js';
import { securityPlugin } from '../../../../hub/auth/http/security-plugin.js';
import { createLogger } from '../../../../hub/logging.js';
import type { EnrollmentTokens, SqlClient } from '../../../../hub/store/store.js';

/**
 * The hub's HTTP security stack as hub/api assembles it (problem+json
 * errors, the default-deny access guard, the security plugin, then routes),
 * with the auth routes mounted under /api/v1, over a real database and a
 * real OpenID Provider. Every log line is kept in `logs` so tests can look
 * for leaked secrets.
 */
export interface RouteInfo {
  readonly method: string;
  readonly url: string;
  readonly permission?: Permission;
  readonly public: boolean;
  /** Without a cluster, the route answers what the caller's scope allows (config.scopedList). */
  readonly scopedList: boolean;
  /**
   * The route's schema declares a `cluster` path or query parameter: only
   * then may a named cluster narrow the permission check to it.
   */
  readonly takesCluster: boolean;
}

export interface TestApp {
  readonly app: FastifyInstance;
  readonly routes: RouteInfo[];
  readonly logs: string[];
  readonly audit: AuditLog;
  readonly apiKeys: ApiKeys;
  readonly bindings: BindingRepository;
  readonly authorizer: RbacAuthorizer;
  readonly revokedEnrollmentTokens: string[];
}

export async function buildTestApp(options: {
  sql: SqlClient;
  enrollmentTokens: EnrollmentTokens;
  issuer: string;
  audience: string;
  adminToken: string;
  rateLimitMax?: number;
  /** More OIDC settings (a short JWKS refetch cooldown for the rotation case). */
  oidc?: Partial<OidcConfig>;
}): Promise<TestApp> {
  const logs: string[] = [];
  const logger = createLogger({
    level: 'trace',
    destination: new Writable({
      write(chunk: Buffer, _enc, done) {
        logs.push(chunk.toString());
        done();
      },
    }),
  });
  const revokedEnrollmentTokens: string[] = [];
  const auth = buildAuth(
    {
      oidc: { ...options.oidc, issuer: options.issuer, audience: options.audience },
      adminToken: options.adminToken,
      bootstrapAdmins: { users: [], groups: ['hub-admins'] },
      apiKeyMaxLifetimeDays: 365,
      corsOrigins: ['https://console.example'],
      rateLimitPerMinute: options.rateLimitMax ?? 10_000,
      tls: true,
    },
    {
      sql: options.sql,
      enrollmentTokens: options.enrollmentTokens,
      logger,
      onEnrollmentTokenRevoked: (id) => revokedEnrollmentTokens.push(id),
    },
  );
  const { authenticator, authorizer, audit, apiKeys, bindings } = auth;

  const app = Fastify({
    loggerInstance: logger.child({ component: 'api' }) as FastifyBaseLogger,
    bodyLimit: 64 * 1024,
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  const routes: RouteInfo[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD' || method === 'OPTIONS') continue;
      const config = route.config as
        | { permission?: Permission; public?: boolean; selfAuthenticated?: boolean; scopedList?: boolean }
        | undefined;
      routes.push({
        method,
        url: route.url,
        permission: config?.permission,
        public: config?.public === true || config?.selfAuthenticated === true,
        scopedList: config?.scopedList === true,
        takesCluster: ['params', 'querystring'].some(
          (part) =>
            (
              route.schema as Record<string, { properties?: Record<string, unknown> } | undefined> | undefined
            )?.[part]?.properties?.cluster !== undefined,
        ),
      });
    }
  });
  app.addSchema(ProblemSchema);
  installProblemHandlers(app);
  installAccessGuard(app, { authenticator, authorizer });
  await app.register(securityPlugin, auth.security);
  // A debugging habit that must stay harmless: logging whole request headers.
  app.addHook('onRequest', async (request) => {
    request.log.debug({ headers: request.headers }, 'request headers');
  });
  await app.register(auth.routes, { prefix: '/api/v1' });
  await app.ready();
  return { app, routes, logs, audit, apiKeys, bindings, authorizer, revokedEnrollmentTokens };
}
