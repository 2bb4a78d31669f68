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
    /**
     * The route answers with data filtered to the caller's cluster scope.
     * Without a `cluster` parameter, a caller granted the permission on some
     * clusters only is admitted (instead of refused) and the route reads
     * `clusterFilter(request)` to query only those clusters.
     */
    scopedList?: boolean;
    /**
     * Where the route takes a cluster, set by the guard at registration from
     * the route's schema (a `cluster` property in `params` or `querystring`),
     * never by the route. Only such a route has its permission checked on the
     * named cluster; on any other route a `?cluster=` is ignored by
     * authorization, since the handler would not confine itself to it.
     */
    clusterParam?: 'path' | 'query';
  }
  interface FastifyRequest {
    principal: Principal | null;
    /**
     * Clusters the access guard authorized this request for: 'all', or a
     * list (the named cluster, or the caller's scope on a scopedList route).
     * Undefined until the guard has decided.
     */
    clusterScope: 'all' | readonly string[] | undefined;
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
 * against the permission of its route. On a route whose schema declares a
 * `cluster` path or query parameter, a cluster given there scopes the check
 * to that cluster; on every other route the check is on all clusters (or the
 * caller's scope for a scopedList), whatever the query string says.
 */
export function installAccessGuard(app: FastifyInstance, options: AccessGuardOptions): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('clusterScope', undefined);

  app.addHook('onRoute', (route) => {
    const config = route.config as
      | { permission?: Permission; public?: boolean; selfAuthenticated?: boolean; clusterParam?: unknown }
      | undefined;
    // Decided once here, from the declaration the handler is validated
    // against, rather than from whatever a request carries: a route that does
    // not take a cluster acts beyond one, so a cluster-scoped grant must not
    // admit it (a `?cluster=east` on POST /api-keys once minted all-clusters
    // admin keys for an east admin).
    const s = route.schema as { params?: unknown; querystring?: unknown } | undefined;
    if (hasCluster(s?.params) && hasCluster(s?.querystring)) {
      // The guard would check one and a handler might read the other.
      throw new Error(
        `route ${String(route.method)} ${route.url} declares cluster in both its path and its query string`,
      );
    }
    const clusterParam = declaredCluster(route.schema);
    if (config?.clusterParam !== undefined && config.clusterParam !== clusterParam) {
      throw new Error(
        `route ${String(route.method)} ${route.url} sets config.clusterParam; it is derived from the schema`,
      );
    }
    route.config = { ...(route.config as object), clusterParam };
    if (route.method === 'HEAD' || route.method === 'OPTIONS') return;
    // A prefix covers itself and what is below it, not every URL that merely starts with its text.
    const under = (prefix: string): boolean =>
      route.url === prefix || route.url.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);
    if (options.publicPrefixes?.some(under)) {
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
    const { permission } = config;
    const cluster = requestCluster(request, config.clusterParam);
    if (cluster !== undefined) {
      if (!(await options.authorizer.allowed(principal, permission, cluster))) {
        throw new ForbiddenError(
          `${principal.name} may not ${permission.verb} ${permission.resource} on cluster "${cluster}"`,
        );
      }
      request.clusterScope = [cluster];
      return;
    }
    if (config.scopedList === true) {
      // A list without a cluster answers what the caller may see: every
      // cluster, or its bound ones (filtered in the store query so cursors
      // stay correct), and 403 only when it may see none.
      const scope = await options.authorizer.scope(principal, permission);
      if (!scope.all && scope.clusters.length === 0) {
        throw new ForbiddenError(
          `${principal.name} may not ${permission.verb} ${permission.resource} on any cluster`,
        );
      }
      request.clusterScope = scope.all ? 'all' : [...scope.clusters];
      return;
    }
    if (!(await options.authorizer.allowed(principal, permission))) {
      throw new ForbiddenError(
        `${principal.name} may not ${permission.verb} ${permission.resource} on all clusters` +
          (config.clusterParam === 'query'
            ? ' (a caller bound to some clusters names one with ?cluster=<name>)'
            : ' (this route acts beyond any one cluster)'),
      );
    }
    request.clusterScope = 'all';
  });
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw new AuthenticationError('Authorization header must be "Bearer <token>"');
  return m[1];
}

/** Where a route's schema takes a `cluster`: path parameter first, else query string, else nowhere. */
function declaredCluster(schema: unknown): 'path' | 'query' | undefined {
  const s = schema as { params?: unknown; querystring?: unknown } | undefined;
  if (hasCluster(s?.params)) return 'path';
  if (hasCluster(s?.querystring)) return 'query';
  return undefined;
}

function hasCluster(part: unknown): boolean {
  const properties = (part as { properties?: Record<string, unknown> } | undefined)?.properties;
  return properties !== undefined && Object.hasOwn(properties, 'cluster');
}

/**
 * The cluster a request names, read where its route declares one (raw: the
 * guard runs before validation, which then refuses a malformed name with
 * 400); undefined on a route that takes none.
 */
export function requestCluster(
  request: FastifyRequest,
  where = request.routeOptions.config.clusterParam,
): string | undefined {
  if (where === 'path') {
    const fromParams = (request.params as Record<string, unknown> | undefined)?.cluster;
    return typeof fromParams === 'string' ? fromParams : undefined;
  }
  if (where === 'query') {
    const fromQuery = (request.query as Record<string, unknown> | undefined)?.cluster;
    return typeof fromQuery === 'string' && fromQuery !== '' ? fromQuery : undefined;
  }
  return undefined;
}

/**
 * The cluster the access guard authorized this request on: the one its
 * route takes and the request named, else undefined (all clusters, a scoped
 * list, or not authorized at all). The audit log files entries under it.
 */
export function authorizedCluster(request: FastifyRequest): string | undefined {
  const scope = request.clusterScope;
  const named = requestCluster(request);
  if (named === undefined || scope === undefined || scope === 'all') return undefined;
  return scope.length === 1 && scope[0] === named ? named : undefined;
}

/** Which clusters a query may read: one named cluster, a list of clusters, or (both undefined) every cluster. */
export interface ClusterFilter {
  readonly cluster?: string;
  readonly clusters?: readonly string[];
}

/**
 * The clusters a guarded route's query must be limited to, as the access
 * guard authorized them: the cluster the request names, else the caller's
 * scope (scopedList routes), else every cluster. Fails closed: on a request
 * the guard has not authorized it throws instead of answering "all".
 */
export function clusterFilter(request: FastifyRequest): ClusterFilter {
  const scope = request.clusterScope;
  if (scope === undefined) {
    throw new Error(`clusterFilter: ${request.method} ${request.url} was not authorized by the access guard`);
  }
  if (scope === 'all') return {};
  const named = requestCluster(request);
  if (named !== undefined && scope.length === 1 && scope[0] === named) return { cluster: named };
  return { clusters: scope };
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
