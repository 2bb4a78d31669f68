import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HUB_NODE_FLAGS } from './runtime.js';

/** bench:ws measures the hub with HUB_NODE_FLAGS; every way of running it must use them. */
describe('hub runtime flags', () => {
  const read = (path: string): string => readFileSync(new URL(path, import.meta.url), 'utf8');

  it('the chart runs the hub with them', () => {
    const command = /command: (\[.*\])/.exec(read('../charts/aiops-nextgen/templates/hub.yaml'))?.[1];
    expect(command).toBeDefined();
    expect(JSON.parse(command!)).toEqual(['node', ...HUB_NODE_FLAGS, 'dist/hub/main.js']);
  });

  it('npm start and npm run start:hub run the hub with them', () => {
    const scripts = (JSON.parse(read('../package.json')) as { scripts: Record<string, string> }).scripts;
    for (const name of ['start', 'start:hub']) {
      expect(scripts[name], name).toMatch(new RegExp(`^tsx ${HUB_NODE_FLAGS.join(' ')} hub/main\\.ts`));
    }
  });
});
