/**
 * The real agent (startAgent) in its own process, with the test-only
 * deterministic sequence collector as its only source. Configured by
 * AIOPS_AGENT_* like the production entry; the sequence collector by
 * AIOPS_TEST_SEQ_* (state/log files, per-run count, limit).
 *
 * With AIOPS_TEST_SEQ_DURABLE=1 the state file AIOPS_TEST_SEQ_STATE says
 * what reached the spool, not what was collected: it is advanced only once
 * a batch's append returned (startAgent's onSpooled), and a restart resumes
 * the collector from there (or from the spool's newest value, for a kill
 * between the append and that write). Values collected but not yet spooled
 * when a SIGKILL lands are generated again, so "generated" means "durable"
 * and a test can demand that none of it is lost.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAgent } from '../../../agent/agent.js';
import { loadAgentConfig } from '../../../agent/config.js';
import { createLogger } from '../../../agent/logging.js';
import { sequenceCollectorFactory } from '../../support/sequence-collector.js';
import { readSpool } from './harness.js';

const factories = [sequenceCollectorFactory];
const env = process.env;
const durable = env.AIOPS_TEST_SEQ_DURABLE === '1';
const stateFile = env.AIOPS_TEST_SEQ_STATE!;
const writeState = (path: string, next: number) => {
  writeFileSync(`${path}.tmp`, String(next));
  renameSync(`${path}.tmp`, path);
};
const readState = (path: string) => {
  try {
    return Number(readFileSync(path, 'utf8'));
  } catch {
    return 1;
  }
};
const config = loadAgentConfig({
  factories,
  overrides: {
    collectors: {
      sequence: {
        stateFile: durable ? `${stateFile}.collected` : stateFile,
        logFile: env.AIOPS_TEST_SEQ_LOG,
        perRun: Number(env.AIOPS_TEST_SEQ_PER_RUN ?? 10),
        lanes: 2,
        limit: Number(env.AIOPS_TEST_SEQ_LIMIT ?? 1000),
      },
    },
  },
});
let spooledNext = 1;
if (durable) {
  const inSpool = readSpool(join(config.dataDir, 'spool')).flatMap((r) => r.values);
  spooledNext = Math.max(readState(stateFile), 1 + Math.max(0, ...inSpool));
  writeState(stateFile, spooledNext);
  writeState(`${stateFile}.collected`, spooledNext);
}
const logger = createLogger({ level: config.logLevel, destination: process.stderr });
const agent = await startAgent(config, logger, {
  factories,
  ...(durable
    ? {
        onSpooled: (_sequence, collections) => {
          let next = spooledNext;
          for (const c of collections)
            for (const s of c.samples)
              if (s.series.metric === 'test_sequence_value') next = Math.max(next, s.value + 1);
          if (next === spooledNext) return;
          spooledNext = next;
          writeState(stateFile, next);
        },
      }
    : {}),
});
process.stdout.write(`READY ${agent.httpPort ?? 0}\n`);
process.once('SIGTERM', () => {
  void agent.stop().then(() => process.exit(0));
});
