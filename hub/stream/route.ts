import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Authenticator, Authorizer, Credentials, Principal } from '../api/access.js';
import type { Bus } from '../bus/bus.js';
import { AuthenticationError, InputError } from '../errors.js';
import { resolveStreamConfig, type StreamConfig } from './config.js';
import { extractCredentials, selectStreamProtocol } from './credentials.js';
import { CloseCode } from './protocol.js';
import { StreamHub, type StreamAccessDeniedHook } from './stream-hub.js';

export interface StreamRouteDeps {
  readonly bus: Bus;
  readonly authenticator: Authenticator;
  readonly authorizer: Authorizer;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly config?: Partial<StreamConfig>;
  /** Receives every refusal made on an open socket (the hub wires it to the audit log). */
  readonly onAccessDenied?: StreamAccessDeniedHook;
}

interface Admitted {
  readonly principal: Principal;
  readonly credentials: Credentials;
}

/**
 * Mounts the WebSocket stream (docs/streaming.md) on `app` and returns its
 * hub, which stops when the app closes. Authentication happens in the
 * route's preValidation hook, before the upgrade: a refused client gets a
 * plain HTTP problem+json response (400/401/503) and never a socket.
 *
 * @fastify/websocket is registered here when the app has not done so, with
 * the subprotocol selection and payload cap the stream needs. An app that
 * registers it itself must pass `options: { handleProtocols:
 * selectStreamProtocol, maxPayload }` (exported from credentials.ts).
 */
export async function registerStreamRoute(app: FastifyInstance, deps: StreamRouteDeps): Promise<StreamHub> {
  const config = resolveStreamConfig(deps.config);
  const hub = new StreamHub({ ...deps, config });
  if (!app.hasDecorator('websocketServer')) {
    await app.register(websocket, {
      options: { handleProtocols: selectStreamProtocol, maxPayload: config.hardMaxMessageBytes },
      // The plugin's default preClose closes every socket without a code
      // before onClose hooks run; ours sends the documented 1001 first.
      preClose: async function (this: FastifyInstance) {
        await hub.stop();
        for (const client of this.websocketServer.clients) {
          client.close(CloseCode.goingAway, 'server shutting down');
        }
        await new Promise<void>((resolve) => this.websocketServer.close(() => resolve()));
      },
    });
  } else if (!app.websocketServer.options.handleProtocols) {
    deps.logger.warn('websocket server has no handleProtocols; bearer subprotocol clients may fail');
  }
  const admitted = new WeakMap<IncomingMessage, Admitted>();

  const refuse = (reply: FastifyReply, status: number, reason: string, detail: string): FastifyReply => {
    hub.metrics.upgradesRejected.inc({ reason });
    const title = status === 400 ? 'Bad Request' : status === 401 ? 'Unauthorized' : 'Service Unavailable';
    const code = status === 400 ? 'invalid_input' : status === 401 ? 'unauthenticated' : 'unavailable';
    if (status === 401) void reply.header('www-authenticate', 'Bearer');
    return reply
      .code(status)
      .type('application/problem+json')
      .send({ type: 'about:blank', title, status, detail, code });
  };

  app.route({
    method: 'GET',
    url: config.path,
    websocket: true,
    // Authenticated here at upgrade (header or subprotocol token) and
    // authorized per subscription, not by the API's header-only access guard.
    config: { selfAuthenticated: true },
    preValidation: async (request: FastifyRequest, reply: FastifyReply) => {
      let credentials: Credentials;
      try {
        credentials = extractCredentials(request.headers, request.url);
      } catch (err) {
        return refuse(
          reply,
          400,
          'bad_credentials',
          err instanceof InputError ? err.message : 'bad credentials',
        );
      }
      if (credentials.bearerToken === undefined) {
        return refuse(reply, 401, 'no_credentials', 'a bearer token is required');
      }
      let principal: Principal | null;
      try {
        principal = await deps.authenticator.authenticate(credentials);
      } catch (err) {
        if (err instanceof AuthenticationError) return refuse(reply, 401, 'invalid_credentials', err.message);
        request.log.warn({ err }, 'stream authentication unavailable');
        return refuse(reply, 503, 'auth_unavailable', 'authentication is unavailable; retry later');
      }
      if (principal === null) return refuse(reply, 401, 'no_credentials', 'a bearer token is required');
      if (principal.expiresAtMs !== undefined && principal.expiresAtMs <= Date.now()) {
        return refuse(reply, 401, 'expired', 'token expired');
      }
      admitted.set(request.raw, { principal, credentials });
    },
    handler: (socket, request) => {
      const entry = admitted.get(request.raw);
      if (entry === undefined) {
        // Unreachable: preValidation either admitted the request or replied.
        socket.terminate();
        return;
      }
      admitted.delete(request.raw);
      hub.accept(socket, entry.principal, entry.credentials, request.ip);
    },
  });
  app.addHook('onClose', async () => {
    await hub.stop();
  });
  hub.start();
  return hub;
}
