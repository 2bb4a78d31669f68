import { appendFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { CollectorFactory } from '../../agent/collectors/collector.js';
import type { Collection, Sample } from '../../agent/model/telemetry.js';

/**
 * TEST ONLY: a deterministic source for the reliability suites. Each run
 * emits the next `perRun` integers (1, 2, 3, ...) as samples of
 * `test_sequence_value` spread over `lanes` series, until `limit` values.
 * Its position survives restarts in `stateFile`, and every run is appended
 * to `logFile` ("first last" per line) so a test knows exactly what was
 * generated, even across a SIGKILL.
 */
export interface SequenceCollectorConfig {
  readonly stateFile: string;
  readonly logFile: string;
  readonly perRun: number;
  readonly lanes: number;
  readonly limit: number;
}

export const sequenceCollectorFactory: CollectorFactory<SequenceCollectorConfig> = {
  name: 'sequence',
  defaultConfig: () => ({ stateFile: '', logFile: '', perRun: 10, lanes: 2, limit: 1000 }),
  parseConfig: (raw) => {
    const r = (raw ?? {}) as Partial<SequenceCollectorConfig>;
    if (!r.stateFile || !r.logFile) throw new Error('sequence collector needs stateFile and logFile');
    return { ...sequenceCollectorFactory.defaultConfig(), ...r };
  },
  create: (config, deps) => {
    let next = readNext(config.stateFile);
    return {
      name: 'sequence',
      start: async () => undefined,
      stop: async () => undefined,
      collect: async (): Promise<Collection> => {
        const samples: Sample[] = [];
        const ts = deps.now();
        const first = next;
        while (samples.length < config.perRun && next <= config.limit) {
          const lane = String(next % config.lanes);
          samples.push({
            series: {
              metric: 'test_sequence_value',
              source: 'sequence',
              entity: 'seq',
              labels: { lane },
              kind: 'gauge',
            },
            timestampMs: ts,
            value: next,
          });
          next += 1;
        }
        if (samples.length > 0) {
          // State first, then the log: a kill between them only hides a run
          // the test then sees as "generated but not logged" -> it reads the
          // state file too.
          writeFileSync(`${config.stateFile}.tmp`, String(next));
          renameSync(`${config.stateFile}.tmp`, config.stateFile);
          appendFileSync(config.logFile, `${first} ${next - 1}\n`);
        }
        return { samples, events: [], inventory: [] };
      },
    };
  },
};

function readNext(path: string): number {
  try {
    const n = Number(readFileSync(path, 'utf8'));
    return Number.isSafeInteger(n) && n > 0 ? n : 1;
  } catch {
    return 1;
  }
}
