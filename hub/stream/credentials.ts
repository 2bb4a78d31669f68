import type { IncomingHttpHeaders } from 'node:http';
import { InputError } from '../errors.js';
import type { Credentials } from '../api/access.js';
import { STREAM_SUBPROTOCOL } from './protocol.js';

/**
 * Where a WebSocket client may put its bearer token: the Authorization
 * header (non-browser clients), or — because browsers cannot set headers on
 * a WebSocket — a Sec-WebSocket-Protocol entry the way the Kubernetes API
 * server accepts it: `base64url.bearer.authorization.k8s.io.<token as
 * unpadded base64url>`, offered beside `aiops.stream.v1`, which is the one
 * the server selects (so the token is never echoed back). Never the query
 * string: URLs end up in proxy and access logs.
 */
export const BEARER_PROTOCOL_PREFIX = 'base64url.bearer.authorization.k8s.io.';

const QUERY_CREDENTIAL = /token|auth|bearer|key|secret|password/i;

/** Throws InputError for credentials in the query string or a malformed protocol token. */
export function extractCredentials(headers: IncomingHttpHeaders, url: string): Credentials {
  const query = url.indexOf('?');
  if (query >= 0) {
    for (const name of new URLSearchParams(url.slice(query + 1)).keys()) {
      if (QUERY_CREDENTIAL.test(name)) {
        throw new InputError(
          `credentials in the query string (${name}) are refused; use the Authorization header or Sec-WebSocket-Protocol`,
        );
      }
    }
  }
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) throw new InputError('Authorization header must be "Bearer <token>"');
    return { bearerToken: match[1] };
  }
  for (const protocol of offeredProtocols(headers)) {
    if (!protocol.startsWith(BEARER_PROTOCOL_PREFIX)) continue;
    const encoded = protocol.slice(BEARER_PROTOCOL_PREFIX.length);
    if (!/^[A-Za-z0-9_-]+$/.test(encoded)) {
      throw new InputError('bearer subprotocol must carry an unpadded base64url token');
    }
    return { bearerToken: Buffer.from(encoded, 'base64url').toString('utf8') };
  }
  return {};
}

export function offeredProtocols(headers: IncomingHttpHeaders): string[] {
  const raw = headers['sec-websocket-protocol'];
  if (raw === undefined) return [];
  return raw
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}

/** ws `handleProtocols`: select the application protocol, never the token-bearing one. */
export function selectStreamProtocol(protocols: Set<string>): string | false {
  return protocols.has(STREAM_SUBPROTOCOL) ? STREAM_SUBPROTOCOL : false;
}

/** The subprotocol entry a client offers to carry `token`. */
export function bearerProtocol(token: string): string {
  return BEARER_PROTOCOL_PREFIX + Buffer.from(token, 'utf8').toString('base64url');
}
