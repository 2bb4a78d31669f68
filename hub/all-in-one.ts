import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
 *
 * The local agent is a convenience: when its bundle cannot be built or
 * found, or the process cannot be spawned, the error is logged and the hub
 * keeps running without it (undefined). Only a failing store (the token)
 * throws, and then the caller stops the hub.
 */
export async function startLocalAgent(options: {
  readonly tokens: EnrollmentTokens;
  readonly grpcAddress: string;
  readonly agentDataDir: string;
  readonly logger: Logger;
  /** From prepareLocalAgent(), when started earlier (the build overlaps the hub's start). */
  readonly bundle?: Promise<AgentBundle>;
}): Promise<LocalAgent | undefined> {
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

  let prepared: AgentBundle;
  try {
    prepared = await (options.bundle ?? prepareLocalAgent(logger));
  } catch (err) {
    logger.error(
      { err },
      'local agent not started: its bundle could not be prepared; the hub keeps running without it',
    );
    return undefined;
  }
  const { bundle, runtime } = prepared;
  const args = [...runtime.nodeFlags, bundle, 'run', '--exit-with-parent'];
  const child: ChildProcess = spawn(process.execPath, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    // Only what an agent needs: never the hub's own secrets (database URL,
    // admin token) from its environment.
    env: {
      ...agentEnvironment(process.env),
      ...runtime.env,
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
      if (code !== 0 && signal !== 'SIGTERM')
        logger.error({ code, signal }, 'local agent exited; the hub keeps running without it');
      resolveExit();
    });
    // Spawning itself failed (no 'exit' follows): same outcome.
    child.once('error', (err) => {
      if (exited) return;
      exited = true;
      logger.error({ err }, 'local agent could not be started; the hub keeps running without it');
      resolveExit();
    });
  });
  logger.info({ pid: child.pid, dataDir: options.agentDataDir }, 'local agent started');

  return {
    exited: exit,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
    },
  };
}

export interface LocalAgent {
  /** Resolves when the agent process has ended (stopped, crashed or never spawned). */
  readonly exited: Promise<void>;
  /** SIGTERM, then SIGKILL after 10 s; safe twice. */
  stop(): Promise<void>;
}

interface AgentRuntime {
  readonly nodeFlags: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/**
 * The agent as it ships: the bundle agent/build.ts makes, run with the Node
 * flags and environment of agent/runtime.json, exactly as the chart runs it
 * and bench:agent measures it (docs/performance.md). A hub run from source
 * (`npm start`) builds the bundle first (about a second, with esbuild from
 * the dev dependencies), so a fresh clone needs no separate build; a built
 * hub (dist/) uses the bundle `npm run build` made beside it.
 */
export interface AgentBundle {
  readonly bundle: string;
  readonly runtime: AgentRuntime;
}

export async function prepareLocalAgent(logger: Logger): Promise<AgentBundle> {
  const here = dirname(fileURLToPath(import.meta.url));
  const fromSource = import.meta.url.endsWith('.ts');
  const root = resolve(here, fromSource ? '..' : '../..');
  const bundle = join(root, 'dist', 'agent', 'aiops-agent.mjs');
  if (fromSource) {
    const started = Date.now();
    await new Promise<void>((resolveBuild, reject) => {
      const build = spawn(process.execPath, ['--import', 'tsx', join(root, 'agent', 'build.ts')], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      build.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
      build.once('error', reject);
      build.once('exit', (code) =>
        code === 0 ? resolveBuild() : reject(new Error(`building the agent failed (exit ${code}): ${err}`)),
      );
    });
    logger.debug({ bundle, ms: Date.now() - started }, 'agent bundle built');
  } else if (!existsSync(bundle)) {
    throw new Error(`${bundle} is missing: run "npm run build" (it builds the agent bundle too)`);
  }
  const runtime = JSON.parse(readFileSync(join(dirname(bundle), 'runtime.json'), 'utf8')) as AgentRuntime;
  return { bundle, runtime };
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
