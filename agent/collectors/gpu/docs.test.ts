import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { clockEventActiveFields, dcgmClockEventFields, metricSpecs } from './fields.js';
import { parseNvidiaSmiXml } from './xml-inventory.js';

const doc = readFileSync(new URL('../../../docs/metrics.md', import.meta.url), 'utf8');
const source = (file: string): string => readFileSync(new URL(file, import.meta.url), 'utf8');
const code = ['gpu-collector.ts', 'samples.ts', 'transitions.ts'].map(source).join('\n');

/** The GPU part of docs/metrics.md: from its heading to the next top-level section. */
const gpuDoc = doc.slice(doc.indexOf('## GPU'), doc.indexOf('\n## ', doc.indexOf('## GPU') + 1));
const metricsTable = gpuDoc.slice(0, gpuDoc.indexOf('### GPU events'));
const eventsTable = gpuDoc.slice(gpuDoc.indexOf('### GPU events'), gpuDoc.indexOf('### GPU inventory'));

interface DocRow {
  readonly metric: string;
  /** `{reason="sw_power_cap"}`-style fixed labels written after the name. */
  readonly head: string;
  readonly kind: string;
  readonly smi: string;
  readonly dcgm: string;
}

/** Rows of the GPU metric table: | `metric` {labels} | kind | nvidia-smi | DCGM | meaning |. */
const docRows: DocRow[] = metricsTable
  .split('\n')
  .filter((l) => l.startsWith('| `gpu_'))
  .map((l) => {
    const cells = l.split(' | ');
    return {
      metric: /`(gpu_[a-z0-9_]+)`/.exec(cells[0] as string)?.[1] as string,
      head: cells[0] as string,
      kind: (cells[1] as string).trim(),
      smi: cells[2] as string,
      dcgm: cells[3] as string,
    };
  });

/** `--query-gpu` field names written in a cell (backticked identifiers; not commands such as `nvidia-smi nvlink -s`). */
const smiFields = (cell: string): string[] =>
  [...cell.matchAll(/`([a-z_][A-Za-z0-9_.]*)`/g)].map((m) => m[1] as string).sort();
const dcgmFields = (cell: string): string[] =>
  [...cell.matchAll(/`(DCGM_FI_[A-Z0-9_]+)`/g)].map((m) => m[1] as string).sort();

/** Metrics the collector builds outside the spec table: `sample('gpu_…', 'kind', …)` calls. */
const adHoc = new Map(
  [...code.matchAll(/sample\(\s*'(gpu_[a-z0-9_]+)',\s*'(gauge|counter)'/g)].map(
    (m) => [m[1] as string, m[2] as string] as const,
  ),
);

/** Every metric name -q -x readings carry, over every recorded XML (they become per-MIG samples). */
const xmlDir = new URL('../../../test/fixtures/gpu/xml/', import.meta.url);
const xmlMetrics = new Set(
  readdirSync(xmlDir)
    .filter((f) => f.endsWith('.xml'))
    .flatMap((f) => parseNvidiaSmiXml(readFileSync(new URL(f, xmlDir), 'utf8')).gpus)
    .flatMap((g) => [...g.readings, ...g.migDevices.flatMap((m) => m.readings)])
    .map((r) => r.metric),
);

describe('docs/metrics.md GPU section, checked against the code', () => {
  it('lists every spec-table metric with its kind and exactly its nvidia-smi and DCGM fields', () => {
    expect(metricSpecs.length).toBeGreaterThan(40);
    for (const spec of metricSpecs) {
      const row = docRows.find(
        (r) =>
          r.metric === spec.metric &&
          (!spec.labels || Object.values(spec.labels).every((v) => r.head.includes(`"${v}"`))),
      );
      expect(row, spec.metric).toBeDefined();
      expect(row?.kind, spec.metric).toBe(spec.kind);
      expect(smiFields(row!.smi), `${spec.metric} nvidia-smi fields`).toEqual([...spec.smi].sort());
      expect(dcgmFields(row!.dcgm), `${spec.metric} DCGM field`).toEqual(spec.dcgm ? [spec.dcgm] : []);
    }
  });

  it('lists every metric built outside the spec table, with its kind', () => {
    expect([...adHoc.keys()]).toEqual(
      expect.arrayContaining(['gpu_xid_errors_total', 'gpu_nvlink_link_up', 'gpu_clock_event_reason_active']),
    );
    for (const [metric, kind] of adHoc) {
      const row = docRows.find((r) => r.metric === metric);
      expect(row, metric).toBeDefined();
      expect(row?.kind, metric).toBe(kind);
    }
    // The decomposed clock-event mask: its active-mask fields and DCGM's bitmask fields.
    const clock = docRows.find((r) => r.metric === 'gpu_clock_event_reason_active')!;
    expect(smiFields(clock.smi)).toEqual([...clockEventActiveFields].sort());
    expect(dcgmFields(clock.dcgm)).toEqual([...dcgmClockEventFields].sort());
  });

  it('documents no GPU metric the code does not emit', () => {
    const emitted = new Set([...metricSpecs.map((s) => s.metric), ...adHoc.keys()]);
    for (const row of docRows) expect(emitted.has(row.metric), row.metric).toBe(true);
  });

  it('every -q -x reading is a documented spec metric (MIG devices emit them as samples)', () => {
    expect(xmlMetrics.size).toBeGreaterThan(20);
    const specNames = new Set(metricSpecs.map((s) => s.metric));
    for (const metric of xmlMetrics) {
      expect(specNames.has(metric) || adHoc.has(metric), metric).toBe(true);
      expect(
        docRows.some((r) => r.metric === metric),
        metric,
      ).toBe(true);
    }
  });

  it('lists every GPU event kind the collector emits', () => {
    // Event kinds are the `gpu_…` literals that are neither metric names nor attribute keys.
    const metricNames = new Set([...metricSpecs.map((s) => s.metric), ...adHoc.keys()]);
    const kinds = new Set(
      [...code.matchAll(/(?<!\[)'(gpu_[a-z_]+)'(?!\])/g)]
        .map((m) => m[1] as string)
        .filter((k) => !metricNames.has(k)),
    );
    expect([...kinds].sort()).toEqual(
      [
        'gpu_appeared',
        'gpu_disappeared',
        'gpu_ecc_double_bit',
        'gpu_nvidia_smi_failed',
        'gpu_nvlink_down',
        'gpu_nvlink_up',
        'gpu_persistence_mode_off',
        'gpu_throttling_end',
        'gpu_throttling_start',
        'gpu_xid',
      ].sort(),
    );
    for (const kind of kinds) expect(eventsTable, kind).toContain(`\`${kind}\``);
    // DCGM's last-Xid field is the Xid source when the kernel log is not readable.
    expect(source('dcgm.ts')).toContain("'DCGM_FI_DEV_XID_ERRORS'");
    expect(eventsTable).toContain('`DCGM_FI_DEV_XID_ERRORS`');
  });
});
