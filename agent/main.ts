/**
 * Standalone agent entry: `npx tsx agent/main.ts [run|collect --once ...]`
 * (also the `aiops-agent` bin). Only wires process signals to the CLI.
 */
import { runCli } from './cli.js';

const result = await runCli(process.argv.slice(2));
if (typeof result === 'number') {
  process.exitCode = result;
} else {
  const { agent, logger } = result;
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down: flushing to the spool');
    // A second signal while flushing exits at once.
    process.once(signal, () => process.exit(1));
    agent.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}
