import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HUB_MAIN = fileURLToPath(new URL('../../hub/main.ts', import.meta.url));
/** Output kept per process for failure messages: enough for the last errors, bounded. */
const OUTPUT_KEEP_CHARS = 64 * 1024;

/** A hub started as a user starts it: `node --import tsx hub/main.ts` with AIOPS_* settings. */
export interface HubProcess {
  readonly proc: ChildProcess;
  /** e.g. http://127.0.0.1:40169 (without /api/v1), from the hub's ready banner. */
  readonly httpUrl: string;
  /** host:port of gRPC ingest, from the hub's ready banner. */
  readonly grpcAddress: string;
  readonly wsUrl: string;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** The last OUTPUT_KEEP_CHARS of stdout and stderr (logs and banner), for diagnostics. */
  output(): string;
  /** SIGTERM (graceful), SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

/**
 * Starts hub/main.ts in a child process with exactly `settings` as its AIOPS_*
 * environment (the test runner's own AIOPS_* variables are not inherited, so
 * nothing leaks into the hub's configuration). Listen addresses should use
 * port 0: the real ports are read from the banner the hub prints when ready.
 * Rejects with the process's output when it exits or is not ready in time.
 */
export function startHubProcess(
  settings: Readonly<Record<string, string>>,
  options: { readyTimeoutMs?: number; name?: string } = {},
): Promise<HubProcess> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('AIOPS_')) env[k] = v;
  }
  Object.assign(env, settings);
  const proc = spawn(process.execPath, ['--import', 'tsx', HUB_MAIN], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const append = (chunk: Buffer): void => {
    out += chunk.toString();
    if (out.length > 2 * OUTPUT_KEEP_CHARS) out = out.slice(-OUTPUT_KEEP_CHARS);
  };
  proc.stdout!.on('data', append);
  proc.stderr!.on('data', append);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const name = options.name ?? 'hub';
  const output = (): string => out.slice(-OUTPUT_KEEP_CHARS);

  const stop = async (graceMs = 15_000): Promise<number | null> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };

  return new Promise<HubProcess>((resolve, reject) => {
    const readyTimeoutMs = options.readyTimeoutMs ?? 90_000;
    const fail = (why: string): void => {
      clearTimeout(timer);
      proc.stdout!.off('data', onData);
      reject(new Error(`${name} (hub/main.ts) ${why}; its output:\n${output()}`));
    };
    const timer = setTimeout(() => {
      fail(`printed no ready banner within ${readyTimeoutMs} ms`);
      proc.kill('SIGKILL');
    }, readyTimeoutMs);
    // The banner main.ts prints once everything listens (see hub/main.ts).
    const onData = (): void => {
      const api = /^\s*API:\s+(https?:\/\/\S+?)\/api\/v1\s/m.exec(out);
      const grpc = /^\s*gRPC ingest:\s+(\S+)\s*$/m.exec(out);
      if (!api || !grpc) return;
      clearTimeout(timer);
      proc.stdout!.off('data', onData);
      const httpUrl = api[1]!;
      resolve({
        proc,
        httpUrl,
        grpcAddress: grpc[1]!,
        wsUrl: `${httpUrl.replace(/^http/, 'ws')}/api/v1/stream`,
        exited,
        output,
        stop,
      });
    };
    proc.stdout!.on('data', onData);
    void exited.then((code) => fail(`exited (code ${code}) before it was ready`));
  });
}
