import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import type { Logger } from 'pino';
import type { Store } from '../store/store.js';
import type { Authenticator, Authorizer } from './access.js';
import { installAccessGuard } from './access-guard.js';
import { installProblemHandlers } from './problem.js';
import { ProblemSchema } from './schemas.js';
import { healthRoutes } from './routes/health.js';
import { telemetryRoutes } from './routes/telemetry.js';
import { fleetRoutes } from './routes/fleet.js';

export interface ApiDeps {
  readonly store: Store;
  readonly authenticator: Authenticator;
  readonly authorizer: Authorizer;
  readonly logger: Logger;
  /** Failed authentications per client address per minute before 429 (default 60). */
  readonly failedAuthPerMinute?: number;
  /** Largest request body accepted. */
  readonly bodyLimitBytes?: number;
  /**
   * More route plugins (auth administration, WebSocket stream, ...), mounted
   * under /api/v1 after the core routes. They see the access guard, so each
   * of their routes must declare a permission too.
   */
  readonly extensions?: readonly ((app: FastifyInstance) => Promise<void>)[];
  /**
   * Hardening registered before any route (rate limits, CORS, security
   * headers, audit): hooks that must see every route are added here.
   */
  readonly beforeRoutes?: (app: FastifyInstance) => Promise<void>;
  /** Serve HTTPS with these options (fastify's `https`). */
  readonly https?: HttpsServerOptions;
  /** Plugins that mount their own absolute paths (the WebSocket stream at /api/v1/stream). */
  readonly rootExtensions?: readonly ((app: FastifyInstance) => Promise<void>)[];
}

export const API_PREFIX = '/api/v1';

/**
 * Builds the REST API (not listening: main.ts listens, tests use inject()).
 * Every route has request and response schemas, errors are problem+json,
 * and the access guard refuses to register a route without a permission.
 */
export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    ...(deps.https ? { https: deps.https } : {}),
    loggerInstance: deps.logger.child({ component: 'api' }) as FastifyBaseLogger,
    bodyLimit: deps.bodyLimitBytes ?? 1024 * 1024,
    // Query strings like ?match=a&match=b arrive as arrays.
    routerOptions: { maxParamLength: 256 },
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addSchema(ProblemSchema);
  installProblemHandlers(app);
  installAccessGuard(app, {
    authenticator: deps.authenticator,
    authorizer: deps.authorizer,
    failedAuthPerMinute: deps.failedAuthPerMinute,
    // The interactive documentation page and its assets: documentation only, no data.
    publicPrefixes: [`${API_PREFIX}/docs`],
  });

  if (deps.beforeRoutes) await deps.beforeRoutes(app);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'aiops-nextgen hub API',
        version: '1',
        description:
          'Fleet telemetry for GPU and telco Kubernetes clusters. Errors are application/problem+json. ' +
          'A route that documents a cluster parameter (query or path) and is given one needs its permission ' +
          'on that cluster; a list without one answers the clusters the caller may see. On a route without a ' +
          'cluster parameter, ?cluster= is ignored and the permission is needed on all clusters. Paged lists ' +
          'return nextCursor: pass it as cursor until it is null.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: `${API_PREFIX}/docs`, uiConfig: { deepLinking: true } });
  // The UI plugin's own routes carry no config; mark them public (documentation only).
  app.get(`${API_PREFIX}/openapi.json`, { config: { public: true }, schema: { hide: true } }, async () =>
    app.swagger(),
  );

  await app.register(healthRoutes, { store: deps.store });
  await app.register(
    async (api) => {
      await api.register(telemetryRoutes, { store: deps.store });
      await api.register(fleetRoutes, { store: deps.store });
      for (const extension of deps.extensions ?? []) await extension(api);
    },
    { prefix: API_PREFIX },
  );
  for (const extension of deps.rootExtensions ?? []) await extension(app);
  return app;
}
