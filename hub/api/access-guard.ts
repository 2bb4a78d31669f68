import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AuthenticationError, ForbiddenError, RateLimitedError } from '../errors.js';
import type { Authenticator, Authorizer, Permission, Principal } from './access.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the caller needs to be allowed to do. Every route declares this or `public`. */
    permission?: Permission;
    /** Answers without credentials (health, readiness, the OpenAPI document). Never data. */
    public?: boolean;
    /**
     * The route authenticates and authorizes each request itself, because the
     * guard's header-only check does not fit it (the WebSocket stream takes its
     * token from a subprotocol too and authorizes per subscription).
     */
    selfAuthenticated?: boolean;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** Thrown at start-up when a route forgot to declare its permission. */
export class MissingPermissionError extends Error {}

export interface AccessGuardOptions {
  readonly authenticator: Authenticator;
  readonly authorizer: Authorizer;
  /**
   * Failed authentications allowed per client address per minute; past it
   * the address gets 429 without its credentials being looked at (guessing
   * API keys or tokens costs a lookup and an audit row each).
   */
  readonly failedAuthPerMinute?: number;
  /** URL prefixes of routes registered by third-party plugins that serve no data (documentation pages). */
  readonly publicPrefixes?: readonly string[];
}

/**
 * Default deny: refuses to register a route that declares neither a
 * permission nor `public`, and authenticates + authorizes every request
 * against the permission of its route. A `cluster` path or query parameter
 * scopes the check to that cluster.
 */
export function installAccessGuard(app: FastifyInstance, options: AccessGuardOptions): void {
  app.decorateRequest('principal', null);

  app.addHook('onRoute', (route) => {
    const config = route.config as
      { permission?: Permission; public?: boolean; selfAuthenticated?: boolean } | undefined;
    if (route.method === 'HEAD' || route.method === 'OPTIONS') return;
    if (options.publicPrefixes?.some((prefix) => route.url.startsWith(prefix))) {
      route.config = { ...(route.config as object), public: true };
      return;
    }
    if (!config?.permission && config?.public !== true && config?.selfAuthenticated !== true) {
      throw new MissingPermissionError(
        `route ${String(route.method)} ${route.url} declares no permission; every route must declare config.permission, config.public or config.selfAuthenticated`,
      );
    }
  });

  // Authentication and authorization both run in onRequest, before the body
  // is read and before schema validation: a caller without rights learns
  // nothing about a route's input schema (403 comes before 400).
  const failures = new FailureWindow(options.failedAuthPerMinute ?? 60, 60_000);
  app.addHook('onRequest', async (request) => {
    const config = request.routeOptions.config;
    if (config.public === true || config.selfAuthenticated === true || !config.permission) return;
    if (failures.exceeded(request.ip)) {
      throw new RateLimitedError('too many failed authentications from this address; retry in a minute');
    }
    let principal: Principal | null;
    try {
      // Expiry (with the issuer's clock tolerance) is the authenticator's call.
      principal = await options.authenticator.authenticate({ bearerToken: bearerToken(request) });
      if (!principal) throw new AuthenticationError('missing bearer token');
    } catch (err) {
      if (err instanceof AuthenticationError) failures.record(request.ip);
      throw err;
    }
    request.principal = principal;
    const cluster = requestCluster(request);
    if (!(await options.authorizer.allowed(principal, config.permission, cluster))) {
      const where = cluster === undefined ? 'on all clusters' : `on cluster "${cluster}"`;
      const hint =
        cluster === undefined ? ' (a caller bound to some clusters names one with ?cluster=<name>)' : '';
      throw new ForbiddenError(
        `${principal.name} may not ${config.permission.verb} ${config.permission.resource} ${where}${hint}`,
      );
    }
  });
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw new AuthenticationError('Authorization header must be "Bearer <token>"');
  return m[1];
}

function requestCluster(request: FastifyRequest): string | undefined {
  const fromParams = (request.params as Record<string, unknown> | undefined)?.cluster;
  if (typeof fromParams === 'string') return fromParams;
  const fromQuery = (request.query as Record<string, unknown> | undefined)?.cluster;
  if (typeof fromQuery === 'string' && fromQuery !== '') return fromQuery;
  return undefined;
}

/**
 * The cluster a list or query runs on: the requested one (already authorized
 * by the guard on that cluster), else all clusters (the guard then authorized
 * the caller on all-clusters scope).
 */
export function effectiveCluster(request: FastifyRequest): string | undefined {
  return requestCluster(request);
}

/** Fixed one-minute windows of failure counts per client address, bounded in size. */
class FailureWindow {
  private counts = new Map<string, number>();
  private windowStart = Date.now();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  exceeded(key: string): boolean {
    this.roll();
    return (this.counts.get(key) ?? 0) >= this.limit;
  }

  record(key: string): void {
    this.roll();
    // Bound memory under a distributed guess: past 100k addresses, start over.
    if (this.counts.size >= 100_000) this.counts.clear();
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  private roll(): void {
    const now = Date.now();
    if (now - this.windowStart >= this.windowMs) {
      this.counts.clear();
      this.windowStart = now;
    }
  }
}
