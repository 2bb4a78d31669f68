import { InputError } from '../errors.js';
import type { LabelMatcher } from '../store/store.js';

/**
 * Parsing of the API's query-string vocabulary: times (epoch milliseconds or
 * RFC 3339), durations (`15s`, `5m`, `1h`, `1d`, or milliseconds) and
 * Prometheus-style label matchers (`name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"`).
 */

export function parseTime(name: string, value: string | undefined, fallbackMs: number): number {
  if (value === undefined || value === '') return fallbackMs;
  if (/^\d+$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  if (!Number.isFinite(ms) || !/^\d{4}-\d{2}-\d{2}T/.test(value)) {
    throw new InputError(`${name}: "${value}" is neither epoch milliseconds nor an RFC 3339 time`);
  }
  return ms;
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(name: string, value: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(value);
  if (!m) throw new InputError(`${name}: "${value}" is not a duration like 15s, 5m, 1h or milliseconds`);
  const ms = Number(m[1]) * (UNIT_MS[m[2] ?? 'ms'] ?? 1);
  if (ms <= 0) throw new InputError(`${name}: must be positive`);
  return ms;
}

const MATCHER = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$/;

export function parseMatchers(values: readonly string[] | undefined): LabelMatcher[] {
  return (values ?? []).map((text) => {
    const m = MATCHER.exec(text);
    if (!m)
      throw new InputError(`match: "${text}" is not a label matcher like name="value" or name=~"regex"`);
    const op = m[2] as LabelMatcher['op'];
    const value = m[3]!.replace(/\\(.)/g, '$1');
    if (op === '=~' || op === '!~') {
      try {
        new RegExp(`^(?:${value})$`);
      } catch (err) {
        throw new InputError(`match: "${value}" is not a valid regular expression`, { cause: err });
      }
    }
    return { name: m[1]!, op, value };
  });
}
