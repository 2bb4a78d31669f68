import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import runtime from './runtime.json' with { type: 'json' };

/**
 * bench:agent measures the agent bundle run with agent/runtime.json's Node
 * flags and environment; the chart must run it the same way (the hub's
 * all-in-one mode reads runtime.json itself).
 */
describe('agent runtime settings', () => {
  const chart = readFileSync(
    new URL('../charts/aiops-nextgen/templates/agent.yaml', import.meta.url),
    'utf8',
  );

  it('the chart runs the bundle with exactly the benchmarked Node flags', () => {
    const command = /command: (\[.*\])/.exec(chart)?.[1];
    expect(command).toBeDefined();
    expect(JSON.parse(command!)).toEqual(['node', ...runtime.nodeFlags, 'dist/agent/aiops-agent.mjs']);
    expect(chart).not.toContain('NODE_OPTIONS');
  });

  it('the chart sets the benchmarked environment', () => {
    for (const [name, value] of Object.entries(runtime.env as Record<string, string>)) {
      expect(chart).toContain(`{ name: ${name}, value: ${JSON.stringify(value)} }`);
    }
  });
});
