import { Writable } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Permission } from '../../../../hub/api/access.js';
import { installAccessGuard } from '../../../../hub/api/access-guard.js';
import { AdminTokenAuthenticator } from '../../../../hub/api/admin-token.js';
import { installProblemHandlers } from '../../../../hub/api/problem.js';
import { ProblemSchema } from '../../../../hub/api/schemas.js';
import { ApiKeys } from '../../../../hub/auth/api-keys/api-keys.js';
import { AuditLog } from '../../../../hub/auth/audit/audit-log.js';
import { hubAuthenticator } from '../../../../hub/auth/authenticator.js';
import { authRoutes } from '../../../../hub/auth/http/auth-routes.js';
import { securityPlugin } from '../../../../hub/auth/http/security-plugin.js';
import { OidcAuthenticator } from '../../../../hub/auth/oidc/oidc-authenticator.js';
import { oidcConfig } from '../../../../hub/auth/oidc/oidc-config.js';
import { BindingRepository } from '../../../../hub/auth/rbac/bindings.js';
import { RbacAuthorizer } from '../../../../hub/auth/rbac/rbac-authorizer.js';
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
  const audit = new AuditLog(options.sql, { logger, flushIntervalMs: 20 });
  const bindings = new BindingRepository(options.sql);
  const apiKeys = new ApiKeys(options.sql, { logger, lastUsedWriteIntervalMs: 0 });
  const authorizer = new RbacAuthorizer({
    bindings,
    apiKeys,
    bootstrapAdmins: { users: [], groups: ['hub-admins'] },
    cacheTtlMs: 0,
  });
  const authenticator = hubAuthenticator({
    apiKeys,
    oidc: new OidcAuthenticator(oidcConfig({ issuer: options.issuer, audience: options.audience }), logger),
    adminToken: new AdminTokenAuthenticator(options.adminToken),
  });
  const revokedEnrollmentTokens: string[] = [];

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
      const config = route.config as { permission?: Permission; public?: boolean } | undefined;
      routes.push({
        method,
        url: route.url,
        permission: config?.permission,
        public: config?.public === true,
      });
    }
  });
  app.addSchema(ProblemSchema);
  installProblemHandlers(app);
  installAccessGuard(app, { authenticator, authorizer });
  await app.register(securityPlugin, {
    audit,
    corsOrigins: ['https://console.example'],
    rateLimitMax: options.rateLimitMax ?? 10_000,
    rateLimitWindowMs: 60_000,
    hsts: true,
  });
  // A debugging habit that must stay harmless: logging whole request headers.
  app.addHook('onRequest', async (request) => {
    request.log.debug({ headers: request.headers }, 'request headers');
  });
  await app.register(
    async (api) => {
      await authRoutes({
        authenticator,
        authorizer,
        bindings,
        apiKeys,
        enrollmentTokens: options.enrollmentTokens,
        audit,
        onEnrollmentTokenRevoked: (id) => revokedEnrollmentTokens.push(id),
      })(api);
    },
    { prefix: '/api/v1' },
  );
  await app.ready();
  return { app, routes, logs, audit, apiKeys, bindings, authorizer, revokedEnrollmentTokens };
}
