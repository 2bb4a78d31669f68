import type { PeerCertificate } from 'node:tls';
import { AuthenticationError, ForbiddenError } from '../../errors.js';

/** The URI SAN form that binds a client certificate to a cluster. */
export function clusterUri(cluster: string): string {
  return `urn:aiops:cluster:${cluster}`;
}

/** Clusters a verified client certificate is bound to: its `URI:urn:aiops:cluster:<name>` SANs. */
export function certificateClusters(cert: PeerCertificate): string[] {
  const san = cert.subjectaltname ?? '';
  return san
    .split(/,\s*/)
    .filter((entry) => entry.startsWith('URI:urn:aiops:cluster:'))
    .map((entry) => entry.slice('URI:urn:aiops:cluster:'.length));
}

/** What grpc-js reports about a call's transport (call.getAuthContext()). */
export interface PeerAuthContext {
  readonly transportSecurityType?: string;
  readonly sslPeerCertificate?: PeerCertificate;
}

/**
 * With mutual TLS, an agent may only send for the cluster its certificate
 * names: ingest calls this with `call.getAuthContext()` and Hello.cluster
 * after the enrollment token is verified. grpc-js reports a peer certificate
 * only when it verified it against the configured CA. Throws
 * AuthenticationError without a verified certificate and ForbiddenError
 * when it names other clusters.
 */
export function assertPeerBoundToCluster(auth: PeerAuthContext | null | undefined, cluster: string): void {
  const cert = auth?.sslPeerCertificate;
  if (auth?.transportSecurityType !== 'ssl' || cert === undefined) {
    throw new AuthenticationError('a verified client certificate is required (mutual TLS)');
  }
  const clusters = certificateClusters(cert);
  if (!clusters.includes(cluster)) {
    throw new ForbiddenError(
      `client certificate is bound to ${clusters.length ? clusters.map((c) => `"${c}"`).join(', ') : 'no cluster'}, not "${cluster}"`,
    );
  }
}
