import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Authenticator, Authorizer } from './api/access.js';
import { AdminOnlyAuthorizer, AdminTokenAuthenticator } from './api/admin-token.js';
import { buildApi } from './api/app.js';
import { metricsRoute } from './api/routes/metrics.js';
import type { Bus } from './bus/bus.js';
import { MemoryBus } from './bus/memory-bus.js';
import { RedisBus } from './bus/redis-bus.js';
import { formatAddress, type HubConfig } from './config.js';
import { createIngestServer, type IngestServer } from './ingest/server.js';
import { openStore } from './store/index.js';
import type { Store } from './store/store.js';
import { registerStreamRoute } from './stream/route.js';

/** A running hub: its listening addresses, its parts for the caller's use, and stop(). */
export interface Hub {
  readonly store: Store;
  readonly ingest: IngestServer;
  readonly api: FastifyInstance;
  readonly httpUrl: string;
  readonly grpcAddress: string;
  /** The bootstrap admin token (from config, or generated when unset). */
  readonly adminToken: string;
  readonly adminTokenGenerated: boolean;
  /** Graceful: stops taking requests, drains ingest, closes the store. Safe twice. */
  stop(): Promise<void>;
}

/**
 * Assembles and starts one hub process: store -> bus -> ingest (gRPC) ->
 * API (HTTP + WebSocket). main.ts only parses config and calls this; tests
 * call it directly with ports 0.
 */
export async function startHub(config: HubConfig, logger: Logger): Promise<Hub> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'aiops_hub_' });

  const store = await openStore(
    { databaseUrl: config.databaseUrl, dataDir: config.dataDir, retentionDays: config.retentionDays },
    logger.child({ component: 'store' }),
  );
  const stops: (() => Promise<void>)[] = [() => store.close()];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse().splice(0)) {
      try {
        await stop();
      } catch (err) {
        logger.error({ err }, 'error while stopping');
      }
    }
  };

  try {
    const bus: Bus = config.redisUrl
      ? new RedisBus({ url: config.redisUrl, logger: logger.child({ component: 'bus' }), registry })
      : new MemoryBus({ logger: logger.child({ component: 'bus' }) });
    stops.push(() => bus.close());

    const ingest = createIngestServer({
      store,
      bus,
      logger,
      registry,
      limits: {
        maxMessageBytes: config.ingestMaxMessageBytes,
        maxSamplesPerBatch: config.ingestMaxSamplesPerBatch,
        maxSeriesPerStream: config.ingestMaxSeriesPerStream,
        maxLabelsPerSeries: config.ingestMaxLabelsPerSeries,
        maxLabelValueLength: config.ingestMaxLabelValueLength,
        maxSampleAgeMs: config.ingestMaxSampleAgeMs,
        maxFutureSkewMs: config.ingestMaxFutureSkewMs,
        window: config.ingestWindow,
      },
    });
    const grpcPort = await ingest.start(formatAddress(config.grpcAddress));
    stops.push(() => ingest.stop({ timeoutMs: 10_000 }));

    const adminTokenGenerated = config.adminToken === undefined;
    const adminToken = config.adminToken ?? `aiops_admin_${randomBytes(32).toString('base64url')}`;
    const authenticator: Authenticator = new AdminTokenAuthenticator(adminToken);
    const authorizer: Authorizer = new AdminOnlyAuthorizer();

    const api = await buildApi({
      store,
      authenticator,
      authorizer,
      logger,
      extensions: [
        async (app) => {
          await metricsRoute(app, registry);
        },
      ],
      rootExtensions: [
        async (app) => {
          await registerStreamRoute(app, {
            bus,
            authenticator,
            authorizer,
            logger: logger.child({ component: 'stream' }),
            registry,
          });
        },
      ],
    });
    await api.listen({ host: config.httpAddress.host, port: config.httpAddress.port });
    stops.push(() => api.close());
    const httpPort = (api.server.address() as { port: number }).port;

    return {
      store,
      ingest,
      api,
      httpUrl: `http://${formatAddress({ host: config.httpAddress.host, port: httpPort })}`,
      grpcAddress: formatAddress({ host: config.grpcAddress.host, port: grpcPort }),
      adminToken,
      adminTokenGenerated,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
