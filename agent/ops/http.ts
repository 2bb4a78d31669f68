import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

export interface HealthReport {
  /** Lifecycle state: starting, ok, stopping, stopped. */
  readonly status: 'starting' | 'ok' | 'stopping' | 'stopped';
  readonly [key: string]: unknown;
}

export interface OpsServerOptions {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  readonly health: () => HealthReport;
  /** Called before /metrics is rendered, to refresh gauges read from state. */
  readonly beforeScrape?: () => void;
  readonly logger: Logger;
}

/**
 * /healthz (liveness: the process serves requests), /readyz (the pipeline
 * is started: spool open, scheduler running; the hub connection is not
 * required, since an agent buffering during a hub outage is working as
 * designed) and Prometheus /metrics about the agent itself.
 */
export async function startOpsServer(
  options: OpsServerOptions,
): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz' || path === '/readyz') {
      const report = options.health();
      const ok = path === '/healthz' ? report.status !== 'stopped' : report.status === 'ok';
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(report));
      return;
    }
    if (path === '/metrics') {
      options.beforeScrape?.();
      options.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
        (err: unknown) => {
          options.logger.error({ err }, 'metrics rendering failed');
          res.writeHead(500).end();
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
