import { pino, type Logger, type LoggerOptions } from 'pino';

/**
 * Paths redacted from every log line: tokens, secrets and connection strings
 * never reach the logs, whatever component logs them.
 */
export const REDACTED_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'apiKey',
  '*.apiKey',
  'databaseUrl',
  '*.databaseUrl',
  'redisUrl',
  '*.redisUrl',
];

/** The one root logger of a hub process; components use `logger.child({ component })`. */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? 'info',
    base: { service: 'aiops-hub' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { req: requestForLog },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}

/**
 * Request lines in the log carry the path only: query strings can hold
 * credentials a client put there by mistake (`?token=`, `?api_key=`), and a
 * log is the last place they should land.
 */
export function requestForLog(req: {
  method?: string;
  url?: string;
  socket?: { remoteAddress?: string };
}): Record<string, unknown> {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return {
    method: req.method,
    url: q < 0 ? url : `${url.slice(0, q)}?[query omitted]`,
    remoteAddress: req.socket?.remoteAddress,
  };
}
