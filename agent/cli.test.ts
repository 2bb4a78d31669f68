import { describe, expect, it } from 'vitest';
import { runCli, type CliIo } from './cli.js';
import type { CollectorFactory } from './collectors/collector.js';
import { hostCollectorFactory } from './collectors/host/index.js';

function io(env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const cli: CliIo = { out: (t) => out.push(t), err: (t) => err.push(t), env };
  return { cli, out: () => out.join(''), err: () => err.join('') };
}

/** A source that finds itself absent, as a GPU collector does on a machine without GPUs. */
const absentFactory: CollectorFactory<unknown> = {
  name: 'nothing',
  defaultConfig: () => ({}),
  parseConfig: () => ({}),
  create: () => ({
    name: 'nothing',
    start: async () => undefined,
    stop: async () => undefined,
    collect: async () => ({
      samples: [],
      events: [],
      inventory: [
        {
          observedMs: 1,
          source: 'nothing',
          entity: 'nothing',
          kind: 'collector',
          attributes: {},
          absent: true,
          absentReason: 'no such device',
        },
      ],
    }),
  }),
};
const factories = [hostCollectorFactory, absentFactory];

describe('aiops-agent collect --once', () => {
  it('prints the host samples in Prometheus text format and exits 0', async () => {
    const t = io();
    expect(
      await runCli(['collect', '--once', '--source', 'host', '--format', 'prom'], t.cli, factories),
    ).toBe(0);
    expect(t.out()).toMatch(/^# TYPE host_cpu_seconds_total counter$/m);
    expect(t.out()).toMatch(/^host_memory_total_bytes\{source="host"\} \d+ \d+$/m);
    expect(t.out()).toMatch(/^# collector host ok$/m);
  });

  it('prints JSON with each collector outcome', async () => {
    const t = io();
    expect(await runCli(['collect', '--once'], t.cli, factories)).toBe(0);
    const doc = JSON.parse(t.out());
    expect(doc.collectors.host.status).toBe('ok');
    expect(doc.collectors.nothing).toMatchObject({ status: 'absent', reason: 'no such device' });
    expect(doc.samples.length).toBeGreaterThan(10);
  });

  it('exits 2 when the requested source is absent', async () => {
    const t = io();
    expect(await runCli(['collect', '--once', '--source', 'nothing'], t.cli, factories)).toBe(2);
    expect(t.err()).toContain('nothing: absent: no such device');
  });

  it('rejects unknown sources, formats and commands with a usage error', async () => {
    expect(await runCli(['collect', '--once', '--source', 'gpu2'], io().cli, factories)).toBe(64);
    expect(await runCli(['collect', '--once', '--format', 'xml'], io().cli, factories)).toBe(64);
    expect(await runCli(['collect'], io().cli, factories)).toBe(64);
    expect(await runCli(['frobnicate'], io().cli, factories)).toBe(64);
  });

  it('exits 78 and lists the problems for invalid configuration', async () => {
    const t = io({ AIOPS_AGENT_SPOOL_FSYNC: 'sometimes', AIOPS_AGENT_HUB_ADDRESS: 'x' });
    expect(await runCli(['collect', '--once'], t.cli, factories)).toBe(78);
    expect(t.err()).toContain('AIOPS_AGENT_SPOOL_FSYNC');
    expect(t.err()).toContain('AIOPS_AGENT_HUB_ADDRESS');
  });
});
