import { InputError } from '../../errors.js';
import type { LabelMatcher, SeriesSelector } from '../store.js';

/** A WHERE fragment over the series table (alias `s`) and its parameters. */
export interface SqlFragment {
  readonly where: string;
  readonly params: unknown[];
}

const IDENTITY_FIELDS = ['cluster', 'node', 'source', 'entity', 'metric'] as const;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Translates a selector to SQL. Label matchers follow Prometheus: a missing
 * label equals the empty string, and regular expressions are anchored at
 * both ends (wrapped as `^(?:re)$`) and evaluated by PostgreSQL's `~`.
 * Parameters are numbered from `firstParam`.
 */
export function selectorSql(selector: SeriesSelector, firstParam = 1): SqlFragment {
  const conds: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown): string => {
    params.push(v);
    return `$${firstParam + params.length - 1}`;
  };
  for (const f of IDENTITY_FIELDS) {
    const v = selector[f];
    if (v !== undefined && v !== '') conds.push(`s.${f} = ${p(v)}`);
  }
  // An empty list stays a condition (matching nothing): a caller scoped to
  // no cluster must never fall back to seeing every cluster.
  if (selector.clusters !== undefined) conds.push(`s.cluster = ANY(${p([...selector.clusters])}::text[])`);
  for (const m of selector.matchers ?? []) conds.push(matcherSql(m, p));
  return { where: conds.length ? conds.join(' AND ') : 'TRUE', params };
}

function matcherSql(m: LabelMatcher, p: (v: unknown) => string): string {
  if (!LABEL_NAME.test(m.name))
    throw new InputError(`invalid label name in matcher: ${JSON.stringify(m.name)}`);
  const label = `coalesce(s.labels ->> ${p(m.name)}, '')`;
  switch (m.op) {
    case '=':
      return `${label} = ${p(m.value)}`;
    case '!=':
      return `${label} <> ${p(m.value)}`;
    case '=~':
      return `${label} ~ ${p(`^(?:${m.value})$`)}`;
    case '!~':
      return `${label} !~ ${p(`^(?:${m.value})$`)}`;
    default:
      throw new InputError(`invalid matcher operator: ${JSON.stringify((m as { op: unknown }).op)}`);
  }
}
