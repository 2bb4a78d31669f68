import type { Logger } from 'pino';
import type { AgentEvent, InventoryItem, MetricKind, Sample, Severity } from '../model/telemetry.js';

/**
 * Accumulates one collector run's output for one source. A value that is
 * absent or not finite gives no sample: collectors never invent a number.
 */
export class CollectionBuilder {
  readonly samples: Sample[] = [];
  readonly events: AgentEvent[] = [];
  readonly inventory: InventoryItem[] = [];

  constructor(private readonly source: string) {}

  sample(
    metric: string,
    entity: string,
    labels: Record<string, string>,
    value: number | undefined,
    timestampMs: number,
    kind: MetricKind = 'gauge',
  ): void {
    if (value === undefined || !Number.isFinite(value)) return;
    this.samples.push({ series: { metric, source: this.source, entity, labels, kind }, timestampMs, value });
  }

  event(
    timestampMs: number,
    kind: string,
    severity: Severity,
    entity: string,
    message: string,
    attributes: Record<string, string>,
  ): void {
    this.events.push({ timestampMs, kind, severity, source: this.source, entity, message, attributes });
  }
}

/**
 * Logs a failure that repeats on every run once, until its message changes
 * or it clears: a collector polling a broken source every second must not
 * write a line every second.
 */
export class FailureLog {
  private readonly failures = new Map<string, string>();

  constructor(private readonly log: Logger) {}

  warnOnce(key: string, err: unknown, fields: Record<string, unknown>, message: string): void {
    const text = err instanceof Error ? err.message : String(err);
    if (this.failures.get(key) === text) return;
    this.failures.set(key, text);
    this.log.warn({ err, ...fields }, message);
  }

  cleared(key: string): void {
    if (this.failures.delete(key)) this.log.info({ key }, 'recovered');
  }
}
