import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Store } from '../../store/store.js';
import { UnavailableError } from '../../errors.js';
import { ProblemSchema } from '../schemas.js';

/**
 * Liveness and readiness. They are public (a kubelet probes them without
 * credentials) and answer no telemetry: only whether the hub can serve.
 */
export const healthRoutes: FastifyPluginAsyncTypebox<{ store: Store }> = async (app, { store }) => {
  app.get(
    '/healthz',
    {
      config: { public: true },
      schema: {
        summary: 'Liveness: the process answers',
        tags: ['health'],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      config: { public: true },
      schema: {
        summary: 'Readiness: the store answers',
        tags: ['health'],
        response: {
          200: Type.Object({ status: Type.Literal('ready'), store: Type.String() }),
          503: ProblemSchema,
        },
      },
    },
    async () => {
      try {
        await store.ping();
      } catch (err) {
        throw new UnavailableError('store is not reachable', { cause: err });
      }
      return { status: 'ready' as const, store: store.info.engine };
    },
  );
};
