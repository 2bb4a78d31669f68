import { pino, type Logger, type LoggerOptions } from 'pino';

/** The one root logger of an agent process; the enrollment token is never logged. */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const opts: LoggerOptions = {
    level: options.level ?? 'info',
    base: { service: 'aiops-agent' },
    redact: { paths: ['token', '*.token', 'authorization', '*.authorization'], censor: '[redacted]' },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}
