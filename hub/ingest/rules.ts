import type { LabelIn, RejectReasonName } from '../codec/ingest-codec.js';
import type { IngestLimits } from './limits.js';

/*
 * Naming rules shared by series, events and inventory. Problems are returned
 * as "reason:detail" strings so callers pick the reject reason that fits.
 */

/** Prometheus metric name. */
export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** Prometheus label name; names starting with "__" are reserved. */
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Collector/source names: lower-case identifiers, as ours are (gpu, ptp, sriov, host). */
export const SOURCE_NAME = /^[a-z][a-z0-9_.-]*$/;
/** Event and inventory kinds: snake_case. */
export const KIND_NAME = /^[a-z][a-z0-9_]*$/;
/** Hello.agent_id. */
export const AGENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export type Problem = `${RejectReasonName}:${string}`;

export function checkName(
  what: string,
  value: string,
  pattern: RegExp,
  maxLength: number,
): Problem | undefined {
  if (value.length === 0) return `invalid_series:${what} is empty`;
  if (value.length > maxLength) return `label_too_long:${what} longer than ${maxLength}`;
  if (!pattern.test(value))
    return `invalid_series:${what} ${JSON.stringify(value)} does not match ${pattern.source}`;
  return undefined;
}

/** Labels as a record, or the first problem. `reserved` names may not appear. */
export function checkLabels(
  labels: readonly LabelIn[],
  limits: IngestLimits,
  reserved: readonly string[],
): Record<string, string> | Problem {
  if (labels.length > limits.maxLabelsPerSeries) {
    return `too_many_labels:${labels.length} labels, limit ${limits.maxLabelsPerSeries}`;
  }
  const out: Record<string, string> = {};
  for (const { name, value } of labels) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) {
      return `invalid_series:label name ${JSON.stringify(name.slice(0, 64))} is invalid`;
    }
    if (reserved.includes(name)) return `invalid_series:label ${name} is reserved (it comes from Hello)`;
    if (name.length > limits.maxLabelValueLength || value.length > limits.maxLabelValueLength) {
      return `label_too_long:label ${name} longer than ${limits.maxLabelValueLength}`;
    }
    if (Object.hasOwn(out, name)) return `invalid_series:label ${name} repeated`;
    out[name] = value;
  }
  return out;
}
