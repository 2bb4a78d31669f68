import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { metricSpecs } from './fields.js';

const doc = readFileSync(new URL('../../../docs/metrics.md', import.meta.url), 'utf8');

describe('docs/metrics.md GPU section', () => {
  it('lists every GPU metric with its nvidia-smi and DCGM fields', () => {
    for (const spec of metricSpecs) {
      const row = doc
        .split('\n')
        .find(
          (l) =>
            l.startsWith(`| \`${spec.metric}\``) &&
            (!spec.labels || Object.values(spec.labels).every((v) => l.includes(`"${v}"`))),
        );
      expect(row, spec.metric).toBeDefined();
      for (const field of spec.smi) expect(row).toContain(`\`${field}\``);
      if (spec.dcgm) expect(row).toContain(`\`${spec.dcgm}\``);
    }
  });

  it('lists every GPU event kind the collector emits', () => {
    const code = ['gpu-collector.ts', 'transitions.ts']
      .map((f) => readFileSync(new URL(f, import.meta.url), 'utf8'))
      .join('\n');
    const kinds = new Set(
      [...code.matchAll(/'(gpu_[a-z_]+)'/g)]
        .map((m) => m[1] as string)
        .filter((k) =>
          /^gpu_(xid|throttling|ecc_double|appeared|disappeared|nvidia_smi_failed|persistence|nvlink_(up|down))/.test(
            k,
          ),
        ),
    );
    expect(kinds.size).toBeGreaterThanOrEqual(8);
    for (const kind of kinds) expect(doc, kind).toContain(`\`${kind}\``);
  });
});
