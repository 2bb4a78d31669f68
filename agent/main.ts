/**
 * Standalone agent entry: `npx tsx agent/main.ts [run|collect --once ...]`
 * (also the `aiops-agent` bin). Only wires process signals to the CLI.
 */
import { runCli } from './cli.js';

// --exit-with-parent (used by the hub's all-in-one mode): stop when the
// process that started us is gone, so a killed hub leaves no orphan agent
// holding the spool and the ops port.
const args = process.argv.slice(2);
const exitWithParent = args.includes('--exit-with-parent');
const result = await runCli(args.filter((a) => a !== '--exit-with-parent'));
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
  if (exitWithParent) {
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) shutdown('parent exited');
    }, 1000).unref();
  }
  process.once('SIGINT', () => shutdown('SIGINT'));
}
