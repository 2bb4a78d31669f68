import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { buildApi } from './api/app.js';
import { RevocationWatcher } from './auth/agents/revocation-watcher.js';
import { buildAuth, type AuthSettings, type HubAuth } from './auth/build-auth.js';
import { securityPlugin } from './auth/http/security-plugin.js';
import { authMigrations } from './auth/migrations.js';
import { grpcServerTls } from './auth/tls/grpc-credentials.js';
import { assertPeerBoundToCluster, type PeerAuthContext } from './auth/tls/peer-cluster.js';
import { assertSafeListeners } from './auth/tls/listen-guard.js';
import {
  loadTlsMaterial,
  reloadServerCertificate,
  secureServerOptions,
  type TlsFiles,
} from './auth/tls/tls-files.js';
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
  /** The bootstrap admin token (from config, or generated when unset); undefined when disabled. */
  readonly adminToken: string | undefined;
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

  const httpTls: TlsFiles | undefined =
    config.httpTlsCertFile && config.httpTlsKeyFile
      ? { certFile: config.httpTlsCertFile, keyFile: config.httpTlsKeyFile }
      : undefined;
  // Refuse plain-text listeners other machines can reach before opening anything.
  assertSafeListeners([
    {
      name: 'HTTP API',
      host: config.httpAddress.host,
      tls: httpTls !== undefined,
      allowInsecure: config.allowInsecureListen,
    },
    {
      name: 'gRPC ingest',
      host: config.grpcAddress.host,
      tls: config.grpcTlsCertFile !== undefined,
      allowInsecure: config.allowInsecureListen,
    },
  ]);
  const httpsOptions = httpTls ? secureServerOptions(await loadTlsMaterial(httpTls)) : undefined;

  const store = await openStore(
    {
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      retentionDays: config.retentionDays,
      rollupRetentionDays: { '1m': config.rollup1mRetentionDays, '1h': config.rollup1hRetentionDays },
      maxConnections: config.storeMaxConnections,
      extraMigrations: authMigrations,
    },
    logger,
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

    const grpcTls = await grpcServerTls(
      config.grpcTlsCertFile && config.grpcTlsKeyFile
        ? {
            certFile: config.grpcTlsCertFile,
            keyFile: config.grpcTlsKeyFile,
            caFile: config.grpcTlsClientCaFile,
            requireClientCertificate: config.grpcTlsClientCaFile !== undefined,
          }
        : undefined,
      logger,
    );
    stops.push(async () => grpcTls.close());
    // The audit log is built with the rest of security below; ingest refusals reach it from then on.
    const auditRef: { current?: HubAuth['audit'] } = {};
    const ingest = createIngestServer({
      credentials: grpcTls.credentials,
      onAccessDenied: (denied) =>
        auditRef.current?.record({
          timeMs: Date.now(),
          outcome: denied.outcome,
          action: `ingest ${denied.rpc}`,
          cluster: denied.cluster,
          principalKind: denied.agentId === undefined ? undefined : 'agent',
          principalId: denied.agentId,
          reason: denied.reason,
          remoteAddr: denied.peer,
        }),
      peerCheck:
        config.grpcTlsClientCaFile === undefined
          ? undefined
          : (authContext, cluster) => assertPeerBoundToCluster(authContext as PeerAuthContext, cluster),
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
      writer: { concurrentCommits: config.ingestWriterConnections },
    });
    const grpcPort = await ingest.start(formatAddress(config.grpcAddress));
    stops.push(() => ingest.stop({ timeoutMs: 10_000 }));

    const adminTokenGenerated = config.adminToken === undefined && !config.adminTokenDisabled;
    const adminToken = config.adminTokenDisabled
      ? undefined
      : (config.adminToken ?? `aiops_admin_${randomBytes(32).toString('base64url')}`);
    const auth = buildAuth(authSettings(config, adminToken, httpTls !== undefined), {
      sql: store.sql,
      enrollmentTokens: store.enrollmentTokens,
      logger,
      onEnrollmentTokenRevoked: (id) => ingest.revokeToken(id),
    });
    auditRef.current = auth.audit;
    stops.push(() => auth.close());
    const { authenticator, authorizer } = auth;
    // Revocations made through another replica reach this one's streams within a poll.
    const revocations = new RevocationWatcher({
      tokens: store.enrollmentTokens,
      onRevoked: (ids) => ids.forEach((id) => ingest.revokeToken(id)),
      logger: logger.child({ component: 'revocation-watcher' }),
    });
    revocations.start();
    stops.push(() => revocations.stop());

    const api = await buildApi({
      store,
      authenticator,
      authorizer,
      logger,
      bodyLimitBytes: config.bodyLimitBytes,
      failedAuthPerMinute: config.authFailuresPerMinute,
      https: httpsOptions,
      beforeRoutes: async (app) => {
        await app.register(securityPlugin, auth.security);
      },
      extensions: [
        async (app) => {
          await metricsRoute(app, registry);
          await auth.routes(app);
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
            onAccessDenied: (denied) =>
              auth.audit.record({
                timeMs: Date.now(),
                outcome: denied.outcome,
                action: denied.action,
                principalKind: denied.principal.kind,
                principalId: denied.principal.id,
                principalName: denied.principal.name,
                cluster: denied.cluster,
                method: 'GET',
                path: denied.path,
                reason: denied.reason,
                remoteAddr: denied.remoteAddr,
              }),
          });
        },
      ],
    });
    await api.listen({ host: config.httpAddress.host, port: config.httpAddress.port });
    stops.push(() => api.close());
    if (httpTls) {
      const watch = reloadServerCertificate(
        api.server as unknown as Parameters<typeof reloadServerCertificate>[0],
        httpTls,
        logger,
      );
      stops.push(async () => watch.close());
    }
    const httpPort = (api.server.address() as { port: number }).port;

    return {
      store,
      ingest,
      api,
      httpUrl: `${httpTls ? 'https' : 'http'}://${formatAddress({ host: config.httpAddress.host, port: httpPort })}`,
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

/** The security settings of hub/auth from the hub's configuration. */
function authSettings(config: HubConfig, adminToken: string | undefined, tls: boolean): AuthSettings {
  return {
    oidc:
      config.oidcIssuer && config.oidcAudience
        ? {
            issuer: config.oidcIssuer,
            audience: config.oidcAudience,
            typ: config.oidcTyp === 'allow' ? 'allow' : 'require',
            usernameClaim: config.oidcUsernameClaim,
            usernamePrefix: config.oidcUsernamePrefix,
            groupsClaim: config.oidcGroupsClaim,
            groupsPrefix: config.oidcGroupsPrefix,
          }
        : undefined,
    adminToken,
    bootstrapAdmins: { users: config.bootstrapAdminUsers, groups: config.bootstrapAdminGroups },
    apiKeyMaxLifetimeDays: config.apiKeyMaxLifetimeDays,
    corsOrigins: config.corsOrigins,
    rateLimitPerMinute: config.rateLimitPerMinute,
    tls,
  };
}
