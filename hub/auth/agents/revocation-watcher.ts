import type { Logger } from 'pino';
import type { EnrollmentTokens } from '../../store/store.js';

export interface RevocationWatcherOptions {
  readonly tokens: EnrollmentTokens;
  /** Called with the ids of tokens revoked since the previous poll (and, on the first poll, all revoked ones). */
  readonly onRevoked: (tokenIds: readonly string[]) => void;
  /** Poll period: the bound on how long a revoked token's streams stay open on another replica. */
  readonly intervalMs?: number;
  readonly logger: Logger;
}

/**
 * Makes enrollment-token revocation reach every hub replica within one poll
 * period: the API's revoke route notifies its own replica's ingest at once
 * (onEnrollmentTokenRevoked), and this watcher reads the token list from the
 * shared store so the other replicas close those streams too. Ingest passes
 * onRevoked its "close streams of token id" function.
 */
export class RevocationWatcher {
  private timer: NodeJS.Timeout | undefined;
  private readonly known = new Set<string>();
  private polling: Promise<void> | undefined;

  constructor(private readonly options: RevocationWatcherOptions) {}

  start(): void {
    if (this.timer) return;
    void this.poll();
    this.timer = setInterval(() => void this.poll(), this.options.intervalMs ?? 5_000);
    this.timer.unref();
  }

  /** Safe before start and twice. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.polling;
  }

  /** One poll (exposed for tests and for a check right after start-up). */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    try {
      const revoked = (await this.options.tokens.list()).filter(
        (t) => t.revokedMs !== null && !this.known.has(t.id),
      );
      if (revoked.length === 0) return;
      for (const t of revoked) this.known.add(t.id);
      this.options.onRevoked(revoked.map((t) => t.id));
    } catch (err) {
      this.options.logger.warn({ err }, 'reading enrollment tokens for revocations failed');
    }
  }
}
