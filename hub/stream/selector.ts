import { InputError } from '../errors.js';
import type { EventRecord, SeriesIdentity, Severity } from '../store/store.js';
import type { Selector } from './protocol.js';

/**
 * A subscription's selector compiled once: label regexes are anchored like
 * Prometheus (`=~ "a|b"` means `^(?:a|b)$`). Series matching runs once per
 * series per bus channel (the result is cached by the hub), so a costly
 * regex costs once, not per sample.
 */
export interface CompiledSelector {
  matchesSeries(series: SeriesIdentity): boolean;
  matchesEvent(event: EventRecord): boolean;
}

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, error: 2, critical: 3 };

type LabelTest = (labels: Readonly<Record<string, string>>) => boolean;

/** Throws InputError when a regex does not compile. */
export function compileSelector(selector: Selector): CompiledSelector {
  const tests: LabelTest[] = (selector.matchers ?? []).map((m) => {
    // Prometheus semantics: a missing label has the value "".
    const get = (labels: Readonly<Record<string, string>>): string => labels[m.name] ?? '';
    switch (m.op) {
      case '=':
        return (labels) => get(labels) === m.value;
      case '!=':
        return (labels) => get(labels) !== m.value;
      case '=~': {
        const re = anchored(m.name, m.value);
        return (labels) => re.test(get(labels));
      }
      case '!~': {
        const re = anchored(m.name, m.value);
        return (labels) => !re.test(get(labels));
      }
    }
  });
  const { cluster, node, source, entity, metric, kind, minSeverity } = selector;
  const minRank = minSeverity === undefined ? 0 : SEVERITY_RANK[minSeverity];
  const common = (x: { cluster: string; node: string; source: string; entity: string }): boolean =>
    (cluster === undefined || x.cluster === cluster) &&
    (node === undefined || x.node === node) &&
    (source === undefined || x.source === source) &&
    (entity === undefined || x.entity === entity);
  return {
    matchesSeries: (series) =>
      common(series) &&
      (metric === undefined || series.metric === metric) &&
      tests.every((t) => t(series.labels)),
    matchesEvent: (event) =>
      common(event) &&
      (kind === undefined || event.kind === kind) &&
      (SEVERITY_RANK[event.severity] ?? 0) >= minRank &&
      tests.every((t) => t(event.attributes)),
  };
}

function anchored(name: string, pattern: string): RegExp {
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch (err) {
    throw new InputError(`matcher ${name}: invalid regular expression`, { cause: err });
  }
}
