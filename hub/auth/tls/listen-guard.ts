import { isIP } from 'node:net';
import { ConfigError } from '../../errors.js';

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  return mapped !== null && (mapped[1] as string).startsWith('127.');
}

export interface ListenPlan {
  /** What is listening, for the error message (`HTTP API`, `gRPC ingest`). */
  readonly name: string;
  readonly host: string;
  readonly tls: boolean;
  /** The explicit opt-out (AIOPS_ALLOW_INSECURE_LISTEN) for a TLS-terminating proxy or mesh in front. */
  readonly allowInsecure: boolean;
}

/**
 * Refuses plain-text listeners that other machines can reach: bearer tokens
 * and enrollment tokens would cross the network in clear. Checks all plans
 * and reports every offending listener at once (ConfigError at start-up).
 */
export function assertSafeListeners(plans: readonly ListenPlan[]): void {
  const problems = plans
    .filter((p) => !p.tls && !p.allowInsecure && !isLoopbackHost(p.host))
    .map(
      (p) =>
        `${p.name} would listen on ${p.host} without TLS: configure a certificate and key, ` +
        'listen on a loopback address, or set the explicit insecure flag when a TLS-terminating proxy or mesh is in front',
    );
  if (problems.length > 0) throw new ConfigError(problems);
}
