/**
 * The real agent (startAgent) in its own process, with the test-only
 * deterministic sequence collector as its only source. Configured by
 * AIOPS_AGENT_* like the production entry; the sequence collector by
 * AIOPS_TEST_SEQ_* (state/log files, per-run count, limit).
 */
import { startAgent } from '../../../agent/agent.js';
import { loadAgentConfig } from '../../../agent/config.js';
import { createLogger } from '../../../agent/logging.js';
import { sequenceCollectorFactory } from '../../support/sequence-collector.js';

const factories = [sequenceCollectorFactory];
const env = process.env;
const config = loadAgentConfig({
  factories,
  overrides: {
    collectors: {
      sequence: {
        stateFile: env.AIOPS_TEST_SEQ_STATE,
        logFile: env.AIOPS_TEST_SEQ_LOG,
        perRun: Number(env.AIOPS_TEST_SEQ_PER_RUN ?? 10),
        lanes: 2,
        limit: Number(env.AIOPS_TEST_SEQ_LIMIT ?? 1000),
      },
    },
  },
});
const logger = createLogger({ level: config.logLevel, destination: process.stderr });
const agent = await startAgent(config, logger, { factories });
process.stdout.write(`READY ${agent.httpPort ?? 0}\n`);
process.once('SIGTERM', () => {
  void agent.stop().then(() => process.exit(0));
});
