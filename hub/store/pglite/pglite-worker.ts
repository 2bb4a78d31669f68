import { parentPort, workerData } from 'node:worker_threads';
import type { MainToWorker, PgliteWorkerData, WorkerToMain } from './protocol.js';
import { servePglite } from './serve-pglite.js';

// Worker entry: PGlite's WASM executes here, so a long query or a big insert
// never stalls the hub's event loop (measured in docs/storage.md).
const data = workerData as PgliteWorkerData;
const port = parentPort;
const send = (m: WorkerToMain): void => port?.postMessage(m);

try {
  const served = await servePglite(data);
  port?.on('message', (m: MainToWorker) => {
    if (m.type !== 'stop') return;
    served.stop().then(
      () => send({ type: 'stopped' }),
      (err: unknown) => send({ type: 'error', message: (err as Error).message }),
    );
  });
  send({ type: 'ready', version: served.version });
} catch (err) {
  send({ type: 'error', message: (err as Error).message });
}
