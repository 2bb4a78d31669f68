import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { EnrollmentTokens } from './store/store.js';

export const LOCAL_CLUSTER = 'local';

/**
 * All-in-one mode (`npm start`): runs a local agent next to the hub so a
 * newcomer sees their own machine's data within seconds. The agent is a
 * child process (hub/ and agent/ never import each other), enrolled with a
 * token of cluster `local` that is kept in the agent's data directory
 * (mode 0600) and reused while the hub still accepts it.
 */
export async function startLocalAgent(options: {
  readonly tokens: EnrollmentTokens;
  readonly grpcAddress: string;
  readonly agentDataDir: string;
  readonly logger: Logger;
}): Promise<{ stop(): Promise<void> }> {
  const logger = options.logger.child({ component: 'local-agent' });
  mkdirSync(options.agentDataDir, { recursive: true });
  const tokenFile = resolve(options.agentDataDir, 'enrollment-token');
  let token: string | undefined;
  try {
    token = readFileSync(tokenFile, 'utf8').trim();
    if (!(await options.tokens.verify(token))) token = undefined;
  } catch {
    token = undefined;
  }
  if (!token) {
    token = (await options.tokens.create(LOCAL_CLUSTER, 'all-in-one local agent')).token;
    writeFileSync(tokenFile, token, { mode: 0o600 });
    chmodSync(tokenFile, 0o600);
  }

  // Run the agent from the same form the hub runs in: TypeScript via tsx, or built JavaScript.
  const here = dirname(fileURLToPath(import.meta.url));
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = join(here, '..', 'agent', fromSource ? 'main.ts' : 'main.js');
  // A 1 MB young generation keeps the agent's RSS and CPU down (docs/performance.md, bench:agent).
  const v8Flags = ['--max-semi-space-size=1'];
  const args = [...v8Flags, ...(fromSource ? ['--import', 'tsx'] : []), entry, 'run', '--exit-with-parent'];
  const child: ChildProcess = spawn(process.execPath, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    // Only what an agent needs: never the hub's own secrets (database URL,
    // admin token) from its environment.
    env: {
      ...agentEnvironment(process.env),
      AIOPS_AGENT_HUB_ADDRESS: options.grpcAddress,
      AIOPS_AGENT_CLUSTER: LOCAL_CLUSTER,
      AIOPS_AGENT_TOKEN_FILE: tokenFile,
      AIOPS_AGENT_DATA_DIR: options.agentDataDir,
    },
  });
  let exited = false;
  const exit = new Promise<void>((resolveExit) => {
    child.once('exit', (code, signal) => {
      exited = true;
      if (code !== 0 && signal !== 'SIGTERM') logger.error({ code, signal }, 'local agent exited');
      resolveExit();
    });
  });
  logger.info({ pid: child.pid, dataDir: options.agentDataDir }, 'local agent started');

  return {
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** PATH, HOME, locale and the AIOPS_AGENT_* settings of the hub's environment. */
function agentEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const kept: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (name === 'AIOPS_AGENT_TOKEN') continue;
    if (
      name.startsWith('AIOPS_AGENT_') ||
      ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'NODE_OPTIONS'].includes(name)
    ) {
      kept[name] = value;
    }
  }
  return kept;
}
