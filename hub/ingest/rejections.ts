import type { RejectionOut, RejectReasonName } from '../codec/ingest-codec.js';

/**
 * Counts what a batch had refused, by reason, keeping the first example of
 * each so that the agent's operator can find the problem.
 */
export class RejectionTally {
  private readonly counts = new Map<RejectReasonName, { count: number; example: string }>();

  add(reason: RejectReasonName, count: number, example: () => string): void {
    if (count <= 0) return;
    const cur = this.counts.get(reason);
    if (cur) cur.count += count;
    else this.counts.set(reason, { count, example: truncate(example(), 200) });
  }

  get size(): number {
    return this.counts.size;
  }

  toArray(): RejectionOut[] {
    return [...this.counts].map(([reason, v]) => ({ reason, count: v.count, example: v.example }));
  }
}

function truncate(s: string, maxChars: number): string {
  return s.length <= maxChars ? s : `${s.slice(0, maxChars - 1)}…`;
}
