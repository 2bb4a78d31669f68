import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadPodResourcesDefinition } from './pod-resources-client.js';

/**
 * A real gRPC server speaking the kubelet's PodResources v1 `List` on a unix
 * socket, for tests and local runs of the GPU and SR-IOV collectors where no
 * kubelet exists. It serves whatever `respond()` returns (a
 * ListPodResourcesResponse in proto-loader's camelCase JSON shape), or fails
 * the call with the gRPC status it throws.
 */
export interface PodResourcesServer {
  readonly socketPath: string;
  /** Number of `List` calls served. */
  readonly calls: () => number;
  stop(): Promise<void>;
}

export interface PodResourcesServerOptions {
  /** Socket to listen on; default a fresh temp dir's `kubelet.sock`. */
  readonly socketPath?: string;
  readonly respond: () => unknown;
}

export async function startPodResourcesServer(
  options: PodResourcesServerOptions,
): Promise<PodResourcesServer> {
  const ownDir = options.socketPath ? undefined : mkdtempSync(join(tmpdir(), 'aiops-podres-'));
  const socketPath = options.socketPath ?? join(ownDir as string, 'kubelet.sock');
  const pkg = loadPodResourcesDefinition()['v1'] as grpc.GrpcObject;
  const service = (pkg['PodResourcesLister'] as grpc.ServiceClientConstructor).service;
  let calls = 0;
  const server = new grpc.Server();
  server.addService(service, {
    List: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      calls += 1;
      try {
        callback(null, options.respond());
      } catch (error) {
        callback({ code: grpc.status.UNAVAILABLE, details: (error as Error).message });
      }
    },
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  return {
    socketPath,
    calls: () => calls,
    async stop(): Promise<void> {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      if (ownDir) rmSync(ownDir, { recursive: true, force: true });
    },
  };
}
