import type { AgentEvent } from '../../model/telemetry.js';
import { clockEventReasons } from './fields.js';
import { source } from './samples.js';

/**
 * Turns per-GPU readings into events on change only: throttling onset and
 * end (thermal and power clock-event reasons), and new double-bit ECC
 * errors. The first reading of a GPU only sets the baseline (a counter that
 * is already non-zero at start is not a new error).
 */
export class TransitionTracker {
  private readonly masks = new Map<string, bigint>();
  private readonly dbe = new Map<string, number>();

  clockMask(
    entity: string,
    mask: bigint,
    timestampMs: number,
    attributes: Readonly<Record<string, string>>,
  ): AgentEvent[] {
    const previous = this.masks.get(entity);
    this.masks.set(entity, mask);
    if (previous === undefined) {
      // Throttling already going on when we start is an onset for the operator.
      return this.diff(entity, 0n, mask, timestampMs, attributes);
    }
    return this.diff(entity, previous, mask, timestampMs, attributes);
  }

  private diff(
    entity: string,
    before: bigint,
    after: bigint,
    timestampMs: number,
    attributes: Readonly<Record<string, string>>,
  ): AgentEvent[] {
    const events: AgentEvent[] = [];
    for (const r of clockEventReasons) {
      if (!r.throttling) continue;
      const was = (before & r.bit) !== 0n;
      const is = (after & r.bit) !== 0n;
      if (was === is) continue;
      events.push({
        timestampMs,
        kind: is ? 'gpu_throttling_start' : 'gpu_throttling_end',
        severity: is ? 'warning' : 'info',
        source,
        entity,
        message: `${r.throttling} throttling ${is ? 'started' : 'ended'}: ${r.reason}`,
        attributes: { ...attributes, reason: r.reason, cause: r.throttling },
      });
    }
    return events;
  }

  doubleBitEcc(
    entity: string,
    count: number,
    timestampMs: number,
    attributes: Readonly<Record<string, string>>,
  ): AgentEvent[] {
    const previous = this.dbe.get(entity);
    this.dbe.set(entity, count);
    if (previous === undefined || count <= previous) return [];
    return [
      {
        timestampMs,
        kind: 'gpu_ecc_double_bit',
        severity: 'critical',
        source,
        entity,
        message: `uncorrected (double-bit) ECC errors rose from ${previous} to ${count}`,
        attributes: {
          ...attributes,
          previous: String(previous),
          count: String(count),
          added: String(count - previous),
        },
      },
    ];
  }

  forget(entity: string): void {
    this.masks.delete(entity);
    this.dbe.delete(entity);
  }
}
