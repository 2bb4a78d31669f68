import { experimental, ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  loadTlsMaterial,
  watchTlsFiles,
  type TlsFiles,
  type TlsMaterial,
  type TlsWatch,
} from './tls-files.js';

export interface GrpcTlsOptions extends TlsFiles {
  /** With caFile: refuse agents without a client certificate signed by that CA (mutual TLS). */
  readonly requireClientCertificate: boolean;
  readonly debounceMs?: number;
}

export interface GrpcServerTls {
  readonly credentials: ServerCredentials;
  /** Stops watching the files (call at shutdown; safe twice). */
  close(): void;
}

/**
 * Server credentials for the gRPC ingest, with certificate reload. grpc-js
 * cannot swap a bound server's certificate through its public API, but its
 * (experimental) certificate-provider credentials apply each update of a
 * provider to new connections; this provider is fed by the same directory
 * watch as HTTPS, and only with material that loaded and checked. Existing
 * streams keep the session they have. The files are read and checked before
 * this resolves, so a bad path or a key that does not match fails start-up
 * (ConfigError). Without options: insecure credentials, which the listen
 * guard lets through only on loopback or with the explicit insecure flag.
 */
export async function grpcServerTls(
  options: GrpcTlsOptions | undefined,
  logger: Logger,
): Promise<GrpcServerTls> {
  if (options === undefined)
    return { credentials: ServerCredentials.createInsecure(), close: () => undefined };
  const provider = new WatchedCertificateProvider(await loadTlsMaterial(options));
  const watch: TlsWatch = watchTlsFiles(options, (m) => provider.update(m), logger, {
    debounceMs: options.debounceMs,
  });
  const mutual = options.caFile !== undefined;
  // grpc-js 1.14's declaration names the parameters (ca, identity) but the
  // implementation takes (identity, ca): pass them in the order that runs.
  const create = experimental.createCertificateProviderServerCredentials as unknown as (
    identity: experimental.CertificateProvider,
    ca: experimental.CertificateProvider | null,
    requireClientCertificate: boolean,
  ) => ServerCredentials;
  return {
    credentials: create(provider, mutual ? provider : null, mutual && options.requireClientCertificate),
    close: () => watch.close(),
  };
}

/** Serves the current material to grpc-js and pushes each reload to its listeners. */
class WatchedCertificateProvider implements experimental.CertificateProvider {
  private readonly identityListeners = new Set<experimental.IdentityCertificateUpdateListener>();
  private readonly caListeners = new Set<experimental.CaCertificateUpdateListener>();

  constructor(private material: TlsMaterial) {}

  update(material: TlsMaterial): void {
    this.material = material;
    for (const l of this.identityListeners) l({ certificate: material.cert, privateKey: material.key });
    if (material.ca) for (const l of this.caListeners) l({ caCertificate: material.ca });
  }

  // grpc-js registers its server watcher only after adding these listeners,
  // so the first update is delivered on the next microtask (still before any
  // connection can arrive), not synchronously, or the server would miss it.
  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => listener({ certificate: this.material.cert, privateKey: this.material.key }));
  }

  removeIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(listener);
  }

  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(listener);
    const ca = this.material.ca;
    if (ca) queueMicrotask(() => listener({ caCertificate: ca }));
  }

  removeCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(listener);
  }
}
