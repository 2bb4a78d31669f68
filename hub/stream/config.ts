import { ConfigError } from '../errors.js';

/**
 * Tunables of the WebSocket stream. Defaults suit a hub serving ~1,000
 * clients on two cores; every bound here is a memory or CPU bound.
 */
export interface StreamConfig {
  /** URL of the endpoint. */
  readonly path: string;
  /** How often queued data is written to each client, batched into one frame per client. */
  readonly flushIntervalMs: number;
  /**
   * Frames per second the replica writes at most, over all clients. A frame
   * costs ~10 µs of CPU in the socket write alone, so past
   * maxFramesPerSecond × flushIntervalMs / 1000 clients each client is
   * flushed every k-th tick instead (clients staggered over the ticks), and
   * frames carry more samples each.
   */
  readonly maxFramesPerSecond: number;
  /** Protocol-level ping interval. */
  readonly pingIntervalMs: number;
  /** A client with no pong for this long is terminated and its resources freed. */
  readonly pongTimeoutMs: number;
  /** Bound on a client's unsent bytes (socket buffer + queue); above it samples coalesce. */
  readonly maxBufferedBytes: number;
  /** A client staying above maxBufferedBytes this long is closed (4008). */
  readonly slowConsumerGraceMs: number;
  /** Largest client message answered with an error rather than processed. */
  readonly maxMessageBytes: number;
  /** Frames above this are refused by ws itself (close 1009) before being buffered. */
  readonly hardMaxMessageBytes: number;
  /** Bad messages tolerated per window before the socket is closed (1008). */
  readonly maxBadMessages: number;
  readonly badMessageWindowMs: number;
  readonly maxSubscriptionsPerClient: number;
  /** Series a single subscription may track; samples of further series are dropped and counted. */
  readonly maxSeriesPerSubscription: number;
  /** Highest per-series rate a subscription may ask for; also its default. */
  readonly maxRateHz: number;
  /** How often credentials and subscriptions are re-checked (revocation). */
  readonly reauthIntervalMs: number;
  /** Bound on the per-bus-channel cache of which subscriptions want a series. */
  readonly matchCacheMaxEntries: number;
}

export const DEFAULT_STREAM_CONFIG: StreamConfig = {
  path: '/api/v1/stream',
  flushIntervalMs: 50,
  maxFramesPerSecond: 10_000,
  pingIntervalMs: 15_000,
  pongTimeoutMs: 45_000,
  maxBufferedBytes: 1024 * 1024,
  slowConsumerGraceMs: 15_000,
  maxMessageBytes: 16 * 1024,
  hardMaxMessageBytes: 256 * 1024,
  maxBadMessages: 10,
  badMessageWindowMs: 60_000,
  maxSubscriptionsPerClient: 64,
  maxSeriesPerSubscription: 100_000,
  maxRateHz: 10,
  reauthIntervalMs: 60_000,
  matchCacheMaxEntries: 200_000,
};

/** Defaults overlaid with `overrides`; every problem is reported at once. */
export function resolveStreamConfig(overrides: Partial<StreamConfig> = {}): StreamConfig {
  const config: StreamConfig = { ...DEFAULT_STREAM_CONFIG, ...overrides };
  const problems: string[] = [];
  for (const [key, value] of Object.entries(config)) {
    if (key === 'path') continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      problems.push(`stream.${key}: must be a positive number (got ${String(value)})`);
    }
  }
  if (!config.path.startsWith('/')) problems.push(`stream.path: must start with '/' (got ${config.path})`);
  if (config.pongTimeoutMs < config.pingIntervalMs) {
    problems.push('stream.pongTimeoutMs: must be at least pingIntervalMs');
  }
  if (config.hardMaxMessageBytes < config.maxMessageBytes) {
    problems.push('stream.hardMaxMessageBytes: must be at least maxMessageBytes');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
