import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';

/**
 * The one mapping from errors to HTTP: every error leaves the API as an
 * RFC 9457 `application/problem+json` body with a stable `code`.
 */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  invalid_input: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
  unavailable: 503,
  permanent: 422,
  invalid_config: 500,
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  instance?: string;
  errors?: { path: string; message: string }[];
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export function problemTypeUri(code: string): string {
  return `urn:aiops:problem:${code}`;
}

export function sendProblem(
  reply: FastifyReply,
  request: FastifyRequest,
  problem: Omit<Problem, 'type' | 'instance'>,
): FastifyReply {
  const body: Problem = {
    type: problemTypeUri(problem.code),
    instance: request.url.split('?')[0],
    ...problem,
  };
  if (problem.status === 401) reply.header('www-authenticate', 'Bearer');
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(body);
}

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

function title(status: number): string {
  return TITLES[status] ?? 'Error';
}

/** Installs the error and not-found handlers on the root instance. */
export function installProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | AppError | Error, request, reply) => {
    if (error instanceof AppError) {
      const status = STATUS_BY_CODE[error.code] ?? 500;
      if (status >= 500) request.log.error({ err: error }, 'request failed');
      return sendProblem(reply, request, {
        status,
        title: title(status),
        code: error.code,
        detail: error.message,
      });
    }
    const fe = error as FastifyError;
    if (fe.validation) {
      return sendProblem(reply, request, {
        status: 400,
        title: title(400),
        code: 'invalid_input',
        detail: `request ${fe.validationContext ?? ''} is invalid: ${fe.message}`.replace('  ', ' '),
        errors: fe.validation.map((v) => ({ path: v.instancePath || '/', message: v.message ?? 'invalid' })),
      });
    }
    const status = typeof fe.statusCode === 'number' && fe.statusCode >= 400 ? fe.statusCode : 500;
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed');
      return sendProblem(reply, request, {
        status,
        title: title(status),
        code: 'internal',
        detail: 'internal error',
      });
    }
    // Fastify's own client errors: bad JSON, body too large, wrong content type, rate limits.
    const code =
      status === 413
        ? 'payload_too_large'
        : status === 415
          ? 'unsupported_media_type'
          : status === 429
            ? 'rate_limited'
            : 'invalid_input';
    return sendProblem(reply, request, { status, title: title(status), code, detail: fe.message });
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, request, {
      status: 404,
      title: title(404),
      code: 'not_found',
      detail: `no route ${request.method} ${request.url.split('?')[0]}`,
    }),
  );
}
