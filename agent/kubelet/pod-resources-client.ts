import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import type * as ProtoLoader from '@grpc/proto-loader';
import { lazyRequire } from '../lazy-require.js';
import type { DeviceAssignment, PodResourcesClient } from './pod-resources.js';

/** Where the kubelet serves the PodResources API on every node. */
export const defaultPodResourcesSocket = '/var/lib/kubelet/pod-resources/kubelet.sock';

export interface PodResourcesClientOptions {
  /** Unix socket path of the kubelet PodResources endpoint. */
  readonly socketPath?: string;
  /** Deadline of one `List` call. */
  readonly timeoutMs?: number;
  /** Largest response accepted; a node with many pods answers a few hundred KiB. */
  readonly maxResponseBytes?: number;
}

// Shapes as decoded by @grpc/proto-loader with `longs: String, defaults: true`.
interface WireContainerDevices {
  resourceName: string;
  deviceIds: string[];
}
interface WireContainer {
  name: string;
  devices: WireContainerDevices[];
}
interface WirePod {
  name: string;
  namespace: string;
  containers: WireContainer[];
}
interface WireListResponse {
  podResources: WirePod[];
}

type ListFn = (
  request: object,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response?: WireListResponse) => void,
) => grpc.ClientUnaryCall;
type ListerClient = grpc.Client & { List: ListFn };
type ListerCtor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: object,
) => ListerClient;

/**
 * The proto ships as a source file next to the code (not generated): from
 * agent/kubelet/ it is ../../proto, from the compiled dist/agent/kubelet/ it
 * is ../../../proto.
 */
function locateProto(): string {
  const candidates = [
    '../../proto/kubelet/podresources/v1/api.proto',
    '../../../proto/kubelet/podresources/v1/api.proto',
  ];
  for (const rel of candidates) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error(`kubelet PodResources proto not found next to ${fileURLToPath(import.meta.url)}`);
}

let listerCtor: ListerCtor | undefined;

/** Loads the proto once per process; exported for the test server, which serves the same definition. */
export function loadPodResourcesDefinition(): grpc.GrpcObject {
  // proto-loader (and protobufjs under it) only on nodes that use the API.
  const protoLoader = lazyRequire('@grpc/proto-loader') as typeof ProtoLoader;
  const definition = protoLoader.loadSync(locateProto(), {
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition);
}

function lister(): ListerCtor {
  if (!listerCtor) {
    const pkg = loadPodResourcesDefinition()['v1'] as grpc.GrpcObject;
    listerCtor = pkg['PodResourcesLister'] as unknown as ListerCtor;
  }
  return listerCtor;
}

/** Flattens the kubelet's pod → container → devices tree into one row per container and resource. */
export function toAssignments(response: WireListResponse): DeviceAssignment[] {
  const out: DeviceAssignment[] = [];
  for (const pod of response.podResources ?? []) {
    for (const container of pod.containers ?? []) {
      for (const devices of container.devices ?? []) {
        if (!devices.resourceName || (devices.deviceIds ?? []).length === 0) continue;
        out.push({
          namespace: pod.namespace,
          pod: pod.name,
          container: container.name,
          resourceName: devices.resourceName,
          deviceIds: [...devices.deviceIds],
        });
      }
    }
  }
  return out;
}

/**
 * PodResources v1 client over the kubelet's unix socket. One channel is kept
 * for the client's life (gRPC reconnects it lazily when the kubelet restarts);
 * every `list()` is one unary `List` call with a deadline.
 */
export function createPodResourcesClient(options: PodResourcesClientOptions = {}): PodResourcesClient {
  const socketPath = options.socketPath ?? defaultPodResourcesSocket;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const Ctor = lister();
  const client = new Ctor(`unix://${socketPath}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': options.maxResponseBytes ?? 16 * 1024 * 1024,
  });
  let closed = false;

  return {
    list(signal?: AbortSignal): Promise<DeviceAssignment[]> {
      if (closed) return Promise.reject(new Error('PodResources client is closed'));
      if (signal?.aborted)
        return Promise.reject(new Error('PodResources List aborted', { cause: signal.reason }));
      return new Promise<DeviceAssignment[]>((resolve, reject) => {
        const onAbort = (): void => call.cancel();
        const call = client.List(
          {},
          new grpc.Metadata(),
          { deadline: Date.now() + timeoutMs },
          (error, response) => {
            signal?.removeEventListener('abort', onAbort);
            if (error) {
              reject(
                new Error(`PodResources List on ${socketPath} failed: ${error.details || error.message}`, {
                  cause: error,
                }),
              );
              return;
            }
            resolve(toAssignments(response ?? { podResources: [] }));
          },
        );
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    close(): void {
      if (closed) return;
      closed = true;
      client.close();
    },
  };
}
