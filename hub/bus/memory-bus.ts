import type { Logger } from 'pino';
import type { Bus, BusBatch } from './bus.js';
import { LocalFanout } from './local-fanout.js';

/**
 * The in-process bus of a single hub replica. Publishing only queues the
 * batch; handlers run on the next turn of the event loop (setImmediate), so
 * ingest returns to its caller (and acks the agent) before any subscriber
 * work happens, and a throwing subscriber never reaches ingest.
 */
export class MemoryBus implements Bus {
  private readonly fanout: LocalFanout;
  private queue: BusBatch[] = [];
  private scheduled = false;
  private closed = false;

  constructor(options: { logger?: Logger } = {}) {
    this.fanout = new LocalFanout(options.logger);
  }

  publish(batch: BusBatch): void {
    if (this.closed) return;
    this.queue.push(batch);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  subscribe(cluster: string, handler: (batch: BusBatch) => void): () => void {
    return this.fanout.add(cluster, handler);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.queue = [];
    this.fanout.clear();
  }

  private drain(): void {
    this.scheduled = false;
    const batches = this.queue;
    this.queue = [];
    for (const batch of batches) this.fanout.deliver(batch);
  }
}
