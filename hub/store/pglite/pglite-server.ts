import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ConfigError, UnavailableError } from '../../errors.js';
import type { MainToWorker, PgliteWorkerData, WorkerToMain } from './protocol.js';
import { servePglite } from './serve-pglite.js';

/** How pg reaches the embedded server: a unix socket directory and port. */
export interface PgliteEndpoint {
  /** Directory holding `.s.PGSQL.<port>`; use as pg's `host`. */
  readonly socketDir: string;
  readonly port: number;
  readonly version: string;
  stop(): Promise<void>;
}

export interface PgliteServerOptions {
  readonly dataDir: string;
  /** 'worker' (default) runs PGlite off the main thread; 'inline' only for measurements. */
  readonly mode?: 'worker' | 'inline';
  /** Test only: the TimescaleDB build of PGlite (devDependency). */
  readonly timescaledb?: boolean;
  readonly startTimeoutMs?: number;
  /** Called when the worker exits or fails after it started (not on stop()). */
  readonly onWorkerExit?: (detail: { exitCode?: number; error?: Error }) => void;
}

const PORT = 5432;
/** sun_path is 108 bytes on Linux; leave room for the file name. */
const MAX_SOCKET_PATH = 100;

/**
 * Starts embedded PGlite for dataDir/pglite and serves it on a unix socket
 * (in dataDir when the path fits, else a private temp dir). Refuses a data
 * directory another live process is serving: two PGlite instances on one
 * directory would corrupt it.
 */
export async function startPgliteServer(options: PgliteServerOptions): Promise<PgliteEndpoint> {
  const dataDir = path.resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  let socketDir = dataDir;
  let tempDir: string | undefined;
  if (path.join(dataDir, `.s.PGSQL.${PORT}`).length > MAX_SOCKET_PATH) {
    tempDir = await mkdtemp(path.join(tmpdir(), 'aiops-pglite-'));
    socketDir = tempDir;
  }
  const socketPath = path.join(socketDir, `.s.PGSQL.${PORT}`);
  if (existsSync(socketPath) && (await socketAlive(socketPath))) {
    throw new ConfigError([
      `data directory ${dataDir} is in use by another process (its PGlite socket answers)`,
    ]);
  }
  const data: PgliteWorkerData = {
    dataDir: path.join(dataDir, 'pglite'),
    socketPath,
    timescaledb: options.timescaledb ?? false,
  };
  const cleanup = async () => {
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  };
  if (options.mode === 'inline') {
    const served = await servePglite(data);
    return {
      socketDir,
      port: PORT,
      version: served.version,
      stop: async () => {
        await served.stop();
        await cleanup();
      },
    };
  }
  const worker = spawnWorker(data);
  const version = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new UnavailableError('embedded PGlite did not start in time'));
    }, options.startTimeoutMs ?? 120_000);
    worker.once('message', (m: WorkerToMain) => {
      clearTimeout(timer);
      if (m.type === 'ready') resolve(m.version);
      else {
        void worker.terminate();
        reject(
          new UnavailableError(`embedded PGlite failed to start: ${m.type === 'error' ? m.message : m.type}`),
        );
      }
    });
    worker.once('error', (err) => {
      clearTimeout(timer);
      reject(new UnavailableError('embedded PGlite worker crashed', { cause: err }));
    });
  });
  let stopping: Promise<void> | undefined;
  worker.on('error', (error) => {
    if (!stopping) options.onWorkerExit?.({ error });
  });
  worker.on('exit', (exitCode) => {
    if (!stopping) options.onWorkerExit?.({ exitCode });
  });
  return {
    socketDir,
    port: PORT,
    version,
    stop: () =>
      (stopping ??= (async () => {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 10_000);
          worker.once('message', () => {
            clearTimeout(timer);
            resolve();
          });
          worker.postMessage({ type: 'stop' } satisfies MainToWorker);
        });
        await worker.terminate();
        await cleanup();
      })()),
  };
}

/**
 * The worker runs compiled JS directly; under tsx or vitest the source is
 * TypeScript, so a tiny CommonJS bootstrap registers tsx's loader in the
 * worker first (a --import in execArgv does not apply to a worker's entry).
 */
function spawnWorker(data: PgliteWorkerData): Worker {
  const js = new URL('./pglite-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return new Worker(js, { workerData: data });
  const ts = new URL('./pglite-worker.ts', import.meta.url).href;
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const boot =
    "const { workerData } = require('node:worker_threads');" +
    'import(workerData.__tsxApi).then((m) => m.register()).then(() => import(workerData.__entry));';
  return new Worker(boot, { eval: true, workerData: { ...data, __tsxApi: tsxApi, __entry: ts } });
}

function socketAlive(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
