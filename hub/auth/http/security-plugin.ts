import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { authorizedCluster } from '../../api/access-guard.js';
import { AppError } from '../../errors.js';
import type { AuditLog, AuditOutcome } from '../audit/audit-log.js';
import { TokenRejectedError } from '../token-rejected.js';

export interface SecurityPluginOptions {
  /** Every mutation and every authentication/authorization failure is recorded here. */
  readonly audit: AuditLog;
  /** Exact origins (scheme://host[:port]) allowed to call the API from a browser; empty: none. */
  readonly corsOrigins: readonly string[];
  /** Requests per principal (per client IP before authentication) in each window. */
  readonly rateLimitMax: number;
  readonly rateLimitWindowMs: number;
  /** Sends Strict-Transport-Security (only meaningful when the API is served over TLS). */
  readonly hsts: boolean;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The audit reason of a failed request, kept from onError until onResponse. */
const failures = new WeakMap<FastifyRequest, string>();

/**
 * HTTP hardening and auditing for the whole API (registered with
 * fastify-plugin, so it applies to every route, and before the routes so the
 * rate limiter sees them). It relies on the access guard (hub/api/access-guard)
 * having authenticated the request in onRequest, which runs first:
 *
 * - rate limits per principal (`user:<id>`, `api-key:<id>`), per client IP
 *   for public routes; failed authentications never reach the limiter (the
 *   guard answers 401 first) but are audited;
 * - CORS for an explicit allowlist of origins only (no credentials: the API
 *   uses bearer tokens, never cookies);
 * - security headers on every response;
 * - an audit entry for each mutation (success or failure) and each 401/403.
 */
export const securityPlugin = fp<SecurityPluginOptions>(
  async (app: FastifyInstance, options) => {
    const allowed = new Set(options.corsOrigins);
    await app.register(cors, {
      origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
      credentials: false,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type'],
      maxAge: 600,
    });

    await app.register(rateLimit, {
      global: true,
      hook: 'onRequest',
      max: options.rateLimitMax,
      timeWindow: options.rateLimitWindowMs,
      keyGenerator: (request) =>
        request.principal ? `${request.principal.kind}:${request.principal.id}` : `ip:${request.ip}`,
    });

    app.addHook('onError', async (request, _reply, error) => {
      if (error instanceof TokenRejectedError) failures.set(request, error.reason);
      else if (error instanceof AppError) failures.set(request, error.message.slice(0, 300));
    });

    app.addHook('onSend', async (_request, reply, payload) => {
      setSecurityHeaders(reply, options.hsts);
      return payload;
    });

    app.addHook('onResponse', async (request, reply) => {
      const outcome = auditOutcome(request, reply);
      if (outcome === undefined) return;
      const permission = request.routeOptions.config.permission;
      const principal = request.principal;
      options.audit.record({
        timeMs: Date.now(),
        outcome,
        action: permission
          ? `${permission.verb} ${permission.resource}`
          : `${request.method} ${request.routeOptions.url ?? 'unknown route'}`,
        principalKind: principal?.kind,
        principalId: principal?.id,
        principalName: principal?.name,
        // Only a cluster the guard authorized this request on, on a route that
        // takes one: a `?cluster=` elsewhere (or on a refused request) is the
        // caller's say-so and would file the entry in that cluster's view.
        cluster: authorizedCluster(request),
        method: request.method,
        // The path only: a query string could carry anything, credentials included.
        path: request.url.split('?')[0],
        status: reply.statusCode,
        reason: failures.get(request),
        remoteAddr: request.ip,
      });
    });
  },
  { name: 'aiops-security', fastify: '5.x' },
);

function auditOutcome(request: FastifyRequest, reply: FastifyReply): AuditOutcome | undefined {
  if (reply.statusCode === 401) return 'unauthenticated';
  if (reply.statusCode === 403) return 'forbidden';
  if (!MUTATING.has(request.method)) return undefined;
  return reply.statusCode < 400 ? 'success' : 'failure';
}

function setSecurityHeaders(reply: FastifyReply, hsts: boolean): void {
  reply.header('x-content-type-options', 'nosniff');
  reply.header('x-frame-options', 'DENY');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('cross-origin-opener-policy', 'same-origin');
  reply.header('cross-origin-resource-policy', 'same-origin');
  if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
  const type = String(reply.getHeader('content-type') ?? '');
  if (!reply.hasHeader('content-security-policy')) {
    // Data responses may never be rendered as a document; the HTML of the API
    // documentation page keeps its own scripts and styles but cannot be framed.
    reply.header(
      'content-security-policy',
      type.startsWith('text/html') ? "frame-ancestors 'none'" : "default-src 'none'; frame-ancestors 'none'",
    );
  }
  if (hsts) reply.header('strict-transport-security', 'max-age=31536000; includeSubDomains');
}
