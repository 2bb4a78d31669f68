import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Authenticator } from '../api/access.js';
import { AdminTokenAuthenticator } from '../api/admin-token.js';
import type { EnrollmentTokens, SqlClient } from '../store/store.js';
import { ApiKeys } from './api-keys/api-keys.js';
import { AuditLog } from './audit/audit-log.js';
import { hubAuthenticator } from './authenticator.js';
import { authRoutes } from './http/auth-routes.js';
import type { SecurityPluginOptions } from './http/security-plugin.js';
import { OidcAuthenticator } from './oidc/oidc-authenticator.js';
import { oidcConfig, type OidcConfig } from './oidc/oidc-config.js';
import { BindingRepository } from './rbac/bindings.js';
import { RbacAuthorizer, type BootstrapAdmins } from './rbac/rbac-authorizer.js';

/** The security settings of the hub process (read by hub/config.ts, documented in docs/security.md). */
export interface AuthSettings {
  /** OIDC access tokens are accepted when an issuer and audience are set. */
  readonly oidc?: Partial<OidcConfig> & Pick<OidcConfig, 'issuer' | 'audience'>;
  /** The bootstrap admin bearer token; undefined disables it. */
  readonly adminToken?: string;
  readonly bootstrapAdmins: BootstrapAdmins;
  readonly apiKeyMaxLifetimeDays: number;
  readonly corsOrigins: readonly string[];
  readonly rateLimitPerMinute: number;
  /** True when the API is served over TLS (turns on HSTS). */
  readonly tls: boolean;
}

export interface AuthDeps {
  readonly sql: SqlClient;
  readonly enrollmentTokens: EnrollmentTokens;
  readonly logger: Logger;
  /** Ingest's "close every stream of this enrollment token". */
  readonly onEnrollmentTokenRevoked?: (tokenId: string) => void;
}

export interface HubAuth {
  readonly authenticator: Authenticator;
  readonly authorizer: RbacAuthorizer;
  readonly audit: AuditLog;
  readonly apiKeys: ApiKeys;
  readonly bindings: BindingRepository;
  /** Options for `app.register(securityPlugin, …)`, before any route. */
  readonly security: SecurityPluginOptions;
  /** The auth routes, for buildApi's `extensions` (mounted under /api/v1). */
  readonly routes: (app: FastifyInstance) => Promise<void>;
  /** Flushes the audit log (shutdown). */
  close(): Promise<void>;
}

/**
 * Assembles hub security from settings: the authenticator chain (API keys,
 * OIDC, admin token), RBAC with bootstrap admins, the audit log, the HTTP
 * hardening options and the auth routes. main.ts only wires what this returns.
 * The tables come from `authMigrations`, passed to openStore.
 */
export function buildAuth(settings: AuthSettings, deps: AuthDeps): HubAuth {
  const logger = deps.logger.child({ component: 'auth' });
  const bindings = new BindingRepository(deps.sql);
  const apiKeys = new ApiKeys(deps.sql, {
    logger,
    maxLifetimeMs: settings.apiKeyMaxLifetimeDays * 86_400_000,
  });
  const authorizer = new RbacAuthorizer({ bindings, apiKeys, bootstrapAdmins: settings.bootstrapAdmins });
  const audit = new AuditLog(deps.sql, { logger });
  const authenticator = hubAuthenticator({
    apiKeys,
    oidc: settings.oidc ? new OidcAuthenticator(oidcConfig(settings.oidc), logger) : undefined,
    adminToken:
      settings.adminToken === undefined ? undefined : new AdminTokenAuthenticator(settings.adminToken),
  });
  return {
    authenticator,
    authorizer,
    audit,
    apiKeys,
    bindings,
    security: {
      audit,
      corsOrigins: settings.corsOrigins,
      rateLimitMax: settings.rateLimitPerMinute,
      rateLimitWindowMs: 60_000,
      hsts: settings.tls,
    },
    routes: authRoutes({
      authenticator,
      authorizer,
      bindings,
      apiKeys,
      enrollmentTokens: deps.enrollmentTokens,
      audit,
      onEnrollmentTokenRevoked: deps.onEnrollmentTokenRevoked,
    }),
    close: () => audit.close(),
  };
}
