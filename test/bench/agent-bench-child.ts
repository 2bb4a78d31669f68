/**
 * The agent as measured by bench:agent: the real startAgent with the host
 * collector and (when a replay nvidia-smi path is given) the GPU collector,
 * every collector at a 1 s interval, streaming to the hub address given.
 */
import { startAgent } from '../../agent/agent.js';
import { gpuCollectorFactory } from '../../agent/collectors/gpu/index.js';
import { hostCollectorFactory } from '../../agent/collectors/host/index.js';
import { loadAgentConfig } from '../../agent/config.js';
import { createLogger } from '../../agent/logging.js';

const env = process.env;
const nvidiaSmiPath = env.AIOPS_BENCH_NVIDIA_SMI;
const factories = nvidiaSmiPath ? [hostCollectorFactory, gpuCollectorFactory] : [hostCollectorFactory];
const config = loadAgentConfig({
  env,
  factories,
  overrides: nvidiaSmiPath
    ? {
        collectors: {
          gpu: { nvidiaSmiPath, sampleIntervalMs: 1000, dcgmUrl: '', kmsgPath: '', podResourcesSocket: '' },
        },
      }
    : {},
});
const agent = await startAgent(
  config,
  createLogger({ level: config.logLevel, destination: process.stderr }),
  {
    factories,
    processMetrics: env.AIOPS_BENCH_PROCESS_METRICS !== '0',
  },
);
process.stdout.write(`READY ${agent.httpPort ?? 0}\n`);
process.once('SIGTERM', () => void agent.stop().then(() => process.exit(0)));

// Optional steady-state CPU profile (AIOPS_BENCH_PROFILE=<file>): starts after
// the warm-up so module loading is not in it; written at SIGTERM.
if (env.AIOPS_BENCH_PROFILE) {
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  setTimeout(
    () => void session.post('Profiler.start'),
    Number(env.AIOPS_BENCH_PROFILE_AFTER_MS ?? 5000),
  ).unref();
  process.prependOnceListener('SIGTERM', () => {
    void session
      .post('Profiler.stop')
      .then(({ profile }) => writeFileSync(env.AIOPS_BENCH_PROFILE!, JSON.stringify(profile)));
  });
}
