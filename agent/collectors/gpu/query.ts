import type { MetricSpec } from './fields.js';
import { clockEventActiveFields, identityFields, metricSpecs } from './fields.js';

/**
 * Field names the driver accepts for `--query-gpu`, from
 * `nvidia-smi --help-query-gpu`. Entries look like `"uuid" or "gpu_uuid"`
 * on a line of their own; both spellings are accepted by the driver.
 */
export function parseHelpQueryGpu(text: string): Set<string> {
  const fields = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    if (!line.startsWith('"')) continue;
    for (const match of line.matchAll(/"([A-Za-z0-9_.]+)"/g)) {
      if (match[1]) fields.add(match[1]);
    }
  }
  return fields;
}

export type Column =
  | { readonly role: 'index' | 'uuid' | 'busId' | 'name' | 'clockActive'; readonly field: string }
  | { readonly role: 'metric'; readonly field: string; readonly spec: MetricSpec };

/** The columns of our `--query-gpu`, in order: identity first, metrics, `name` last. */
export interface QueryPlan {
  readonly columns: readonly Column[];
  /** Our metric fields the driver does not know (each would fail the whole query). */
  readonly unsupported: readonly string[];
}

function pick(supported: ReadonlySet<string>, names: readonly string[]): string | undefined {
  return names.find((n) => supported.has(n));
}

/**
 * Intersects our fields with the driver's: an unknown field makes nvidia-smi
 * reject the whole query, so we only ask for what it listed. Throws when the
 * driver lacks the identity fields we cannot work without.
 */
export function buildQueryPlan(supported: ReadonlySet<string>): QueryPlan {
  const columns: Column[] = [];
  const unsupported: string[] = [];
  const index = pick(supported, identityFields.index);
  const uuid = pick(supported, identityFields.uuid);
  if (!index || !uuid)
    throw new Error(
      'nvidia-smi --help-query-gpu lists no "index"/"uuid" field: not an nvidia-smi we can read',
    );
  columns.push({ role: 'index', field: index }, { role: 'uuid', field: uuid });
  const busId = pick(supported, identityFields.busId);
  if (busId) columns.push({ role: 'busId', field: busId });
  const clockActive = pick(supported, clockEventActiveFields);
  if (clockActive) columns.push({ role: 'clockActive', field: clockActive });
  const seen = new Set(columns.map((c) => c.field));
  for (const spec of metricSpecs) {
    if (spec.smi.length === 0) continue;
    const field = pick(supported, spec.smi);
    if (!field) {
      unsupported.push(spec.smi[0] as string);
      continue;
    }
    if (seen.has(field)) continue;
    seen.add(field);
    columns.push({ role: 'metric', field, spec });
  }
  const name = pick(supported, identityFields.name);
  if (name) columns.push({ role: 'name', field: name });
  return { columns, unsupported };
}

export function queryArgument(plan: QueryPlan): string {
  return `--query-gpu=${plan.columns.map((c) => c.field).join(',')}`;
}

/** One GPU's row of the stream, cells still as printed. */
export interface GpuRow {
  readonly index: string;
  readonly uuid: string;
  readonly busId?: string;
  readonly name?: string;
  readonly cells: ReadonlyMap<string, string>;
}

export type RowResult =
  { readonly ok: true; readonly row: GpuRow } | { readonly ok: false; readonly reason: string };

const uuidPattern = /^GPU-[0-9a-fA-F-]{8,}$/;

/**
 * Parses one `--format=csv,noheader,nounits` line. Anything that is not a
 * row of our plan (an error message, a truncated line) is rejected with a
 * reason; the stream counts those as garbage.
 */
export function parseRow(plan: QueryPlan, line: string): RowResult {
  const parts = line.split(',');
  const hasName = plan.columns.at(-1)?.role === 'name';
  const fixed = hasName ? plan.columns.length - 1 : plan.columns.length;
  if (parts.length < plan.columns.length || (!hasName && parts.length !== plan.columns.length)) {
    return { ok: false, reason: `expected ${plan.columns.length} columns, got ${parts.length}` };
  }
  const cells = new Map<string, string>();
  for (let i = 0; i < fixed; i++) cells.set((plan.columns[i] as Column).field, (parts[i] as string).trim());
  if (hasName) cells.set((plan.columns.at(-1) as Column).field, parts.slice(fixed).join(',').trim());
  let index = '';
  let uuid = '';
  let busId: string | undefined;
  let name: string | undefined;
  for (const column of plan.columns) {
    const cell = cells.get(column.field) ?? '';
    if (column.role === 'index') index = cell;
    else if (column.role === 'uuid') uuid = cell;
    else if (column.role === 'busId') busId = cell;
    else if (column.role === 'name') name = cell;
  }
  if (!/^\d+$/.test(index))
    return { ok: false, reason: `index is not a number: ${JSON.stringify(index.slice(0, 40))}` };
  if (!uuidPattern.test(uuid))
    return { ok: false, reason: `uuid is not a GPU UUID: ${JSON.stringify(uuid.slice(0, 60))}` };
  return { ok: true, row: { index, uuid, ...(busId ? { busId } : {}), ...(name ? { name } : {}), cells } };
}
