/**
 * The agent's small error family. The agent never imports hub/, so it keeps
 * its own classes; like the hub's, each says whether a retry can help.
 */
export class AgentError extends Error {
  /** True when retrying the same operation later can succeed. */
  readonly retryable: boolean = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Invalid configuration; `problems` lists every problem found, not only the first. */
export class ConfigError extends AgentError {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

/** The hub refused us in a way retrying cannot fix (bad token, invalid data). */
export class PermanentError extends AgentError {}

/** A transient failure (hub down, network); retry with backoff. */
export class UnavailableError extends AgentError {
  override readonly retryable = true;
}
