import type { SeriesDefIn } from '../codec/ingest-codec.js';
import type { MetricKind, SeriesIdentity, StoredSeries, Store } from '../store/store.js';
import type { IngestLimits } from './limits.js';
import type { RejectionTally } from './rejections.js';
import { checkLabels, checkName, METRIC_NAME, SOURCE_NAME } from './rules.js';

/**
 * The series table of one stream (or of one Push call): agent ref -> stored
 * series. Refs are resolved to database ids once, when first defined, so the
 * per-sample hot path is a Map lookup.
 */
export class SeriesTable {
  private readonly byRef = new Map<number, StoredSeries>();
  /** Why a ref's definition was refused, to explain later samples that use it. */
  private readonly refused = new Map<number, string>();

  constructor(
    private readonly cluster: string,
    private readonly node: string,
    private readonly limits: IngestLimits,
  ) {}

  get size(): number {
    return this.byRef.size;
  }

  get(ref: number): StoredSeries | undefined {
    return this.byRef.get(ref);
  }

  refusedReason(ref: number): string | undefined {
    return this.refused.get(ref);
  }

  /**
   * Validates the batch's definitions, resolves the new ones through the
   * store (one call) and adds them. Refused definitions are tallied; a
   * redefinition with the same identity is a no-op.
   */
  async define(defs: readonly SeriesDefIn[], store: Store, tally: RejectionTally): Promise<void> {
    if (defs.length === 0) return;
    const fresh: { ref: number; identity: SeriesIdentity }[] = [];
    const freshRefs = new Set<number>();
    for (const def of defs) {
      const identityOrError = this.identityOf(def);
      if (typeof identityOrError === 'string') {
        const [reason, detail] = splitReason(identityOrError);
        tally.add(reason, 1, () => `ref ${def.ref}: ${detail}`);
        if (!this.byRef.has(def.ref)) this.refused.set(def.ref, detail);
        continue;
      }
      const existing = this.byRef.get(def.ref);
      if (existing) {
        if (!sameIdentity(existing, identityOrError)) {
          tally.add(
            'invalid_series',
            1,
            () => `ref ${def.ref} redefined with a different identity on one stream`,
          );
        }
        continue;
      }
      if (freshRefs.has(def.ref)) continue;
      if (this.byRef.size + fresh.length >= this.limits.maxSeriesPerStream) {
        tally.add(
          'too_many_series',
          1,
          () => `ref ${def.ref}: stream already has ${this.limits.maxSeriesPerStream} series`,
        );
        this.refused.set(def.ref, `max_series_per_stream (${this.limits.maxSeriesPerStream}) reached`);
        continue;
      }
      freshRefs.add(def.ref);
      fresh.push({ ref: def.ref, identity: identityOrError });
    }
    if (fresh.length === 0) return;
    const ids = await store.resolveSeries(fresh.map((f) => f.identity));
    fresh.forEach((f, i) => {
      this.byRef.set(f.ref, { ...f.identity, id: ids[i]! });
      this.refused.delete(f.ref);
    });
  }

  /** The identity a definition describes, or "reason:detail" when it is refused. */
  private identityOf(def: SeriesDefIn): SeriesIdentity | string {
    const max = this.limits.maxLabelValueLength;
    if (def.ref === 0) return 'invalid_series:ref 0 is reserved';
    const metricProblem = checkName('metric', def.metric, METRIC_NAME, max);
    if (metricProblem) return metricProblem;
    const sourceProblem = checkName('source', def.source, SOURCE_NAME, max);
    if (sourceProblem) return sourceProblem;
    if (def.entity.length > max) return `label_too_long:entity longer than ${max}`;
    let kind: MetricKind;
    if (def.type === 'counter') kind = 'counter';
    else if (def.type === 'gauge' || def.type === 'unspecified') kind = 'gauge';
    else return 'invalid_series:unknown metric type';
    const labels = checkLabels(def.labels, this.limits, ['cluster', 'node']);
    if (typeof labels === 'string') return labels;
    return {
      cluster: this.cluster,
      node: this.node,
      source: def.source,
      entity: def.entity,
      metric: def.metric,
      labels,
      kind,
    };
  }
}

function splitReason(s: string): [Parameters<RejectionTally['add']>[0], string] {
  const i = s.indexOf(':');
  return [s.slice(0, i) as Parameters<RejectionTally['add']>[0], s.slice(i + 1)];
}

function sameIdentity(a: SeriesIdentity, b: SeriesIdentity): boolean {
  if (a.metric !== b.metric || a.source !== b.source || a.entity !== b.entity || a.kind !== b.kind)
    return false;
  const ak = Object.keys(a.labels);
  if (ak.length !== Object.keys(b.labels).length) return false;
  return ak.every((k) => a.labels[k] === b.labels[k]);
}
