import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAgentBundle } from '../../../agent/build.js';
import runtime from '../../../agent/runtime.json' with { type: 'json' };
import { startLocalAgent, type AgentBundle } from '../../../hub/all-in-one.js';
import { createIngestServer } from '../../../hub/ingest/server.js';
import { MemoryStore } from '../../../hub/ingest/testing/memory-store.js';
import { waitFor } from './harness.js';

const run = promisify(execFile);

/**
 * The agent as it ships (agent/build.ts's bundle, run with agent/runtime.json's
 * flags, as the chart, bench:agent and `npm start` run it), and the hub's
 * all-in-one start of it, including when the bundle cannot be had.
 */
describe('the shipped agent bundle', () => {
  let dir: string;
  let bundle: string;

  beforeAll(async () => {
    // Inside the repository, like dist/agent/: the bundle requires its lazy
    // modules (yaml, proto-loader) from the node_modules above it.
    const cache = join(fileURLToPath(new URL('../../../node_modules/.cache', import.meta.url)));
    mkdirSync(cache, { recursive: true });
    dir = mkdtempSync(join(cache, 'aiops-bundle-'));
    // The image's layout: <app>/dist/agent/aiops-agent.mjs beside <app>/proto.
    symlinkSync(fileURLToPath(new URL('../../../proto', import.meta.url)), join(dir, 'proto'));
    bundle = await buildAgentBundle(join(dir, 'dist', 'agent', 'aiops-agent.mjs'));
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** `node <runtime flags> <bundle> args...`, with only what a node would have in its environment. */
  async function agent(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const r = await run(process.execPath, [...runtime.nodeFlags, bundle, ...args], {
        env: { PATH: process.env.PATH, ...runtime.env },
        maxBuffer: 32 * 1024 * 1024,
        timeout: 60_000,
      });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      if (typeof e.code !== 'number') throw err;
      return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  it('collect --once prints this host’s samples as JSON, with a YAML config file', async () => {
    const config = join(dir, 'agent.yaml');
    writeFileSync(
      config,
      'hubAddress: 127.0.0.1:1\ncluster: bundle-test\ncollectors:\n  host:\n    intervalMs: 1000\n',
    );
    const r = await agent(['collect', '--once', '--source', 'host', '--config', config, '--format', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      collectors: Record<string, { status: string }>;
      samples: { series: { metric: string; source: string }; value: number }[];
    };
    expect(out.collectors).toEqual({ host: expect.objectContaining({ status: 'ok' }) });
    const metrics = new Set(out.samples.map((s) => s.series.metric));
    expect(out.samples.every((s) => s.series.source === 'host')).toBe(true);
    expect(metrics).toContain('host_memory_total_bytes');
    expect([...metrics].some((m) => m.startsWith('host_cpu_'))).toBe(true);
  }, 60_000);

  it('lists every problem of a bad YAML config file and exits 78', async () => {
    const config = join(dir, 'bad.yaml');
    writeFileSync(config, 'hubAddress: nowhere\nlogLevel: loud\nbogus: 1\n');
    const r = await agent(['collect', '--once', '--config', config, '--format', 'json']);
    expect(r.code).toBe(78);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('invalid configuration:');
    expect(r.stderr).toContain('AIOPS_AGENT_HUB_ADDRESS (hubAddress): "nowhere" is not host:port');
    expect(r.stderr).toContain('AIOPS_AGENT_LOG_LEVEL (logLevel): "loud" is not one of');
    expect(r.stderr).toContain('bogus: unknown setting');
  }, 60_000);

  describe('all-in-one start (hub/all-in-one.ts)', () => {
    function capture() {
      const lines: Record<string, unknown>[] = [];
      const logger = pino(
        { level: 'info' },
        new Writable({
          write(chunk: Buffer, _enc, cb) {
            for (const l of chunk.toString().split('\n').filter(Boolean))
              lines.push(JSON.parse(l) as Record<string, unknown>);
            cb();
          },
        }),
      );
      return { logger, lines };
    }

    it('keeps the hub running without the local agent when the bundle cannot be built', async () => {
      const store = new MemoryStore();
      const { logger, lines } = capture();
      const failed = Promise.reject(new Error('building the agent failed (exit 1): esbuild: no such file'));
      const agentDir = join(dir, 'aio-fail');
      const started = await startLocalAgent({
        tokens: store.enrollmentTokens,
        grpcAddress: '127.0.0.1:1',
        agentDataDir: agentDir,
        logger,
        bundle: failed as Promise<AgentBundle>,
      });
      expect(started).toBeUndefined();
      const error = lines.find((l) => l.level === 50);
      expect(error?.msg).toContain('local agent not started');
      expect(JSON.stringify(error?.err)).toContain('building the agent failed');
      // The enrollment token was made (mode 0600) for the next start.
      expect(statSync(join(agentDir, 'enrollment-token')).mode & 0o777).toBe(0o600);
    });

    it('starts the bundle, which streams to the hub, and stops it', async () => {
      const store = new MemoryStore();
      const server = createIngestServer({
        store,
        logger: pino({ level: 'silent' }),
        registry: new Registry(),
      });
      const port = await server.start('127.0.0.1:0');
      const { logger } = capture();
      // The child takes the AIOPS_AGENT_* settings of the hub's environment:
      // a free ops port (parallel tests) and quiet logs.
      const saved = { ...process.env };
      process.env.AIOPS_AGENT_HTTP_ADDRESS = '127.0.0.1:0';
      process.env.AIOPS_AGENT_LOG_LEVEL = 'warn';
      try {
        const local = await startLocalAgent({
          tokens: store.enrollmentTokens,
          grpcAddress: `127.0.0.1:${port}`,
          agentDataDir: join(dir, 'aio-ok'),
          logger,
          bundle: Promise.resolve({ bundle, runtime }),
        });
        expect(local).toBeDefined();
        try {
          await waitFor(
            'host samples stored',
            async () => (store.samples.length > 0 ? true : undefined),
            30_000,
          );
        } finally {
          await local!.stop();
        }
        await local!.exited;
      } finally {
        process.env = saved;
        await server.stop({ timeoutMs: 1000 });
      }
    }, 60_000);
  });
});
