import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAgentConfig } from './config.js';
import { ConfigError } from './errors.js';

const dir = mkdtempSync(join(tmpdir(), 'aiops-agent-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadAgentConfig', () => {
  it('has working defaults', () => {
    const c = loadAgentConfig({ env: {} });
    expect(c.hubAddress).toBe('127.0.0.1:4770');
    expect(c.spool.fsync).toBe('interval');
    expect(c.collectors.host).toMatchObject({ enabled: true, intervalMs: 10_000 });
    expect(c.token()).toBeUndefined();
  });

  it('layers defaults < file < environment', () => {
    const file = join(dir, 'agent.yaml');
    writeFileSync(
      file,
      'cluster: from-file\nnodeName: n-file\nspool:\n  maxBytes: 1048576\ncollectors:\n  host:\n    intervalMs: 2000\n    slowIntervalMs: 5000\n',
    );
    const c = loadAgentConfig({ env: { AIOPS_AGENT_CONFIG: file, AIOPS_AGENT_CLUSTER: 'from-env' } });
    expect(c.cluster).toBe('from-env');
    expect(c.nodeName).toBe('n-file');
    expect(c.spool.maxBytes).toBe(1048576);
    expect(c.collectors.host).toMatchObject({
      intervalMs: 2000,
      options: expect.objectContaining({ slowIntervalMs: 5000 }),
    });
  });

  it('reads the token from a file at each call', () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'first\n');
    const c = loadAgentConfig({ env: { AIOPS_AGENT_TOKEN_FILE: tokenFile } });
    expect(c.token()).toBe('first');
    writeFileSync(tokenFile, 'rotated\n');
    expect(c.token()).toBe('rotated');
  });

  it('lists every problem at once', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({ hubAdress: 'typo:1', collectors: { nope: {}, host: { excludeInterfaces: '(' } } }),
    );
    try {
      loadAgentConfig({
        env: {
          AIOPS_AGENT_CONFIG: file,
          AIOPS_AGENT_HUB_ADDRESS: 'no-port',
          AIOPS_AGENT_SPOOL_FSYNC: 'sometimes',
          AIOPS_AGENT_BATCH_MAX_SAMPLES: '-1',
          AIOPS_AGENT_TOKEN_FILE: join(dir, 'missing'),
          AIOPS_AGENT_LOG_LEVEL: 'loud',
        },
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      for (const p of [
        'HUB_ADDRESS',
        'SPOOL_FSYNC',
        'BATCH_MAX_SAMPLES',
        'TOKEN_FILE',
        'LOG_LEVEL',
        'collectors.nope',
        'excludeInterfaces',
      ]) {
        expect(problems).toContain(p);
      }
    }
  });

  it('rejects an unparsable config file with its name', () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'a: [1,\n');
    expect(() => loadAgentConfig({ env: { AIOPS_AGENT_CONFIG: file } })).toThrow(/broken\.yaml/);
  });
});
