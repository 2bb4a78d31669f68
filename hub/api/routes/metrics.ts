import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

/**
 * The hub's own Prometheus metrics (ingest rates, commit latency, stream
 * clients, bus drops). Protected like telemetry at all-clusters scope: a
 * Prometheus scrapes it with a bearer token (an API key).
 */
export async function metricsRoute(app: FastifyInstance, registry: Registry): Promise<void> {
  app.get(
    '/metrics',
    {
      config: { permission: { verb: 'get', resource: 'telemetry' } },
      schema: {
        summary: 'Prometheus metrics about the hub itself',
        tags: ['operations'],
        produces: ['text/plain'],
      },
    },
    async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()),
  );
}
