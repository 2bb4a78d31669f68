import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildQueryPlan, parseHelpQueryGpu, parseRow, queryArgument, type QueryPlan } from './query.js';
import { rowSamples } from './samples.js';
import { isAbsent, parseNumber } from './values.js';

const fixtures = new URL('../../../test/fixtures/gpu/captures/', import.meta.url);
const replay = fileURLToPath(
  new URL('../../../test/integration/gpu/replay/nvidia-smi-replay.mjs', import.meta.url),
);
const captures = readdirSync(fixtures).filter((f) => f.endsWith('.txt'));

function section(text: string, title: string): string {
  const start = text.indexOf(`# ${title}`);
  const body = text.slice(text.indexOf('\n#####', start) + 1);
  return body.slice(body.indexOf('\n') + 1, body.indexOf('\n#####'));
}

/** The recorded idle (or load) row of a capture, by field name (header units stripped), cells as recorded. */
function recordedIdleRow(text: string, phase: 'idle' | 'load' = 'idle'): Map<string, string> {
  const [header, row] = section(text, `${phase} :: query-gpu`)
    .split('\n')
    .filter((l) => l.trim() !== '');
  const names = (header as string).split(', ').map((h) => h.replace(/ \[[^\]]*\]$/, ''));
  const cells = (row as string).split(', ');
  return new Map(names.map((n, i) => [n, cells[i] as string]));
}

describe('--help-query-gpu and the query plan', () => {
  it.each(captures.flatMap((file) => (['idle', 'load'] as const).map((phase) => [phase, file] as const)))(
    'plans a query the driver accepts and the recorded %s row parses without invented values: %s',
    (phase, file) => {
      const text = readFileSync(new URL(file, fixtures), 'utf8');
      const supported = parseHelpQueryGpu(section(text, 'capabilities :: help-query-gpu'));
      expect(supported.size).toBeGreaterThan(100);
      expect(supported.has('gpu_uuid')).toBe(true); // aliases on "or" lines count
      const plan = buildQueryPlan(supported);
      for (const c of plan.columns) expect(supported.has(c.field)).toBe(true);
      expect(plan.columns.at(-1)?.role).toBe('name');

      // The replay executable prints the recorded row for exactly our fields, like nvidia-smi would.
      const out = execFileSync(replay, [queryArgument(plan), '--format=csv,noheader,nounits'], {
        env: {
          ...process.env,
          AIOPS_NVSMI_REPLAY_CAPTURE: new URL(file, fixtures).pathname,
          AIOPS_NVSMI_REPLAY_PHASE: phase,
        },
        encoding: 'utf8',
      });
      const lines = out.trim().split('\n');
      expect(lines).toHaveLength(1);
      const result = parseRow(plan, lines[0] as string);
      if (!result.ok) throw new Error(result.reason);
      const samples = rowSamples(plan, result.row, { gpu: result.row.index, uuid: result.row.uuid }, 1_000);
      expect(samples.length).toBeGreaterThan(10);

      const recorded = recordedIdleRow(text, phase);
      for (const column of plan.columns) {
        if (column.role !== 'metric') continue;
        const raw = recorded.get(column.field);
        const produced = samples.filter(
          (s) =>
            s.series.metric === column.spec.metric &&
            (!column.spec.labels ||
              Object.entries(column.spec.labels).every(([k, v]) => s.series.labels[k] === v)),
        );
        if (
          raw === undefined ||
          isAbsent(raw) ||
          (column.spec.parse === 'number' && parseNumber(raw) === undefined)
        ) {
          expect(produced, `${column.field}=${raw} must give no sample`).toHaveLength(0);
        } else if (column.spec.parse === 'number') {
          expect(produced, column.field).toHaveLength(1);
          expect(produced[0]?.value).toBeCloseTo((parseNumber(raw) as number) * column.spec.smiScale, 9);
        }
      }
    },
  );

  it('drops MIG-mode utilization ([N/A] on the H100 MIG capture) instead of reporting 0', () => {
    const text = readFileSync(
      new URL('nvge-capture__linux-x86_64__nvidia-h100-mig__590.48.01.txt', fixtures),
      'utf8',
    );
    expect(recordedIdleRow(text).get('utilization.gpu')).toBe('[N/A]');
    const plan = buildQueryPlan(parseHelpQueryGpu(section(text, 'capabilities :: help-query-gpu')));
    const line = execFileSync(replay, [queryArgument(plan), '--format=csv,noheader,nounits'], {
      env: {
        ...process.env,
        AIOPS_NVSMI_REPLAY_CAPTURE: new URL(
          'nvge-capture__linux-x86_64__nvidia-h100-mig__590.48.01.txt',
          fixtures,
        ).pathname,
      },
      encoding: 'utf8',
    }).trim();
    const result = parseRow(plan, line);
    if (!result.ok) throw new Error(result.reason);
    const samples = rowSamples(plan, result.row, {}, 1);
    expect(samples.find((s) => s.series.metric === 'gpu_utilization_ratio')).toBeUndefined();
    expect(samples.find((s) => s.series.metric === 'gpu_power_draw_watts')?.value).toBe(71.15);
    expect(samples.find((s) => s.series.metric === 'gpu_memory_total_bytes')?.value).toBe(
      81559 * 1024 * 1024,
    );
    // 0x...01 = GPU idle only: nine 0/1 series, one of them set.
    const reasons = samples.filter((s) => s.series.metric === 'gpu_clock_event_reason_active');
    expect(reasons).toHaveLength(9);
    expect(reasons.filter((s) => s.value === 1).map((s) => s.series.labels['reason'])).toEqual(['gpu_idle']);
  });

  it('uses the pre-R530 throttle field names when that is all the driver has', () => {
    const plan = buildQueryPlan(
      new Set(['index', 'uuid', 'name', 'clocks_throttle_reasons.active', 'power.draw']),
    );
    expect(plan.columns.map((c) => c.field)).toEqual([
      'index',
      'uuid',
      'clocks_throttle_reasons.active',
      'power.draw',
      'name',
    ]);
    expect(plan.unsupported).toContain('utilization.gpu');
  });

  it('refuses a driver without index/uuid', () => {
    expect(() => buildQueryPlan(new Set(['name']))).toThrow(/index/);
  });

  it('rejects garbage lines with a reason and keeps a product name that contains a comma', () => {
    const plan: QueryPlan = buildQueryPlan(new Set(['index', 'uuid', 'power.draw', 'name']));
    expect(
      parseRow(plan, 'Unable to determine the device handle for GPU0000:9B:00.0: Unknown Error'),
    ).toMatchObject({ ok: false });
    expect(parseRow(plan, '0, not-a-uuid, 1, x')).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/uuid/),
    });
    expect(parseRow(plan, '0, GPU-1234')).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/columns/),
    });
    const ok = parseRow(plan, '3, GPU-00000000-0000-0000-0000-000000000003, 12.5, Acme GPU, rev 2');
    expect(ok).toMatchObject({ ok: true, row: { index: '3', name: 'Acme GPU, rev 2' } });
  });
});
