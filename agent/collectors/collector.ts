import type { Logger } from 'pino';
import type { Collection } from '../model/telemetry.js';

/**
 * A Collector reads one source on this node (gpu, ptp, sriov, host).
 *
 * Contract:
 * - `start()` probes the source once. It never throws because the source is
 *   absent: an absent source is reported by `collect()` as one inventory item
 *   with `absent: true` (kind `collector`, entity = the collector's name) and no samples.
 * - `collect()` is called by the scheduler at the collector's interval, never
 *   concurrently with itself, and must honour `signal` (the scheduler aborts it
 *   at its timeout). It returns what was read since the previous call; a
 *   collector backed by a long-running child process drains its buffer here.
 *   It throws only for a failure of this run (the scheduler counts it and
 *   reports `up=0`); it never returns invented values.
 * - `stop()` releases child processes, sockets and timers; safe before
 *   `start()` and safe to call twice.
 */
export interface Collector {
  /** Source name, also the `source` of every series, event and inventory item it emits. */
  readonly name: string;
  start(): Promise<void>;
  collect(signal: AbortSignal): Promise<Collection>;
  stop(): Promise<void>;
}

/** What every collector gets from the agent when it is created. */
export interface CollectorDeps {
  readonly logger: Logger;
  /** Node name (Kubernetes node or host name). */
  readonly nodeName: string;
  /** Clock, injectable for tests. */
  readonly now: () => number;
}

/**
 * A factory per source: its config schema with defaults, validation that
 * lists every problem at once, and construction.
 */
export interface CollectorFactory<Config> {
  readonly name: string;
  defaultConfig(): Config;
  /** Parse and validate raw config (from file/env); throws a ConfigError listing every problem. */
  parseConfig(raw: unknown): Config;
  create(config: Config, deps: CollectorDeps): Collector;
}
