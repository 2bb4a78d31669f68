import { prepareLocalAgent, startLocalAgent, type LocalAgent } from './all-in-one.js';
import { startHub } from './build-hub.js';
import { loadHubConfig, type HubConfig } from './config.js';
import { ConfigError } from './errors.js';
import { createLogger } from './logging.js';

/**
 * Hub entry point: only parses flags and configuration, starts the hub (and
 * in all-in-one mode a local agent), prints where it listens, and stops
 * gracefully on SIGTERM/SIGINT.
 */
async function main(): Promise<void> {
  let config: HubConfig;
  try {
    config = loadHubConfig(process.env, process.argv.includes('--all-in-one') ? { allInOne: 'true' } : {});
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`aiops-hub: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel });
  // The agent bundle is built (from source) while the hub starts.
  const agentBundle = config.allInOne ? prepareLocalAgent(logger) : undefined;
  agentBundle?.catch(() => undefined); // awaited (and reported) by startLocalAgent
  const hub = await startHub(config, logger);
  let agent: LocalAgent | undefined;
  try {
    agent = config.allInOne
      ? await startLocalAgent({
          tokens: hub.store.enrollmentTokens,
          grpcAddress: hub.grpcAddress,
          agentDataDir: config.agentDataDir,
          logger,
          bundle: agentBundle,
        })
      : undefined;
  } catch (err) {
    // The hub is already listening: close it properly before exiting.
    await hub.stop();
    throw err;
  }

  // Printed once on stdout, never logged: the admin token is a secret.
  process.stdout.write(
    [
      '',
      `aiops hub ready (store: ${hub.store.info.engine})`,
      `  API:          ${hub.httpUrl}/api/v1   (OpenAPI: ${hub.httpUrl}/api/v1/openapi.json)`,
      `  gRPC ingest:  ${hub.grpcAddress}`,
      hub.adminToken === undefined
        ? '  admin token:  disabled (AIOPS_ADMIN_TOKEN_DISABLED)'
        : hub.adminTokenGenerated
          ? `  admin token:  ${hub.adminToken}   (generated for this run; set AIOPS_ADMIN_TOKEN to keep one)`
          : '  admin token:  from AIOPS_ADMIN_TOKEN',
      agent
        ? `  local agent:  cluster "local", try: curl -H "Authorization: Bearer $TOKEN" "${hub.httpUrl}/api/v1/latest?source=host"`
        : config.allInOne
          ? '  local agent:  not started (see the error logged above); the hub runs without it'
          : '',
      '',
    ].join('\n') + '\n',
  );

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    void (async () => {
      await agent?.stop();
      await hub.stop();
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(
    `aiops-hub: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
