/**
 * npm run bench:start — seconds from `npm start` (the README's main command:
 * hub on a new embedded store plus the local agent) until this machine's host
 * metrics are readable through the hub's API, as a newcomer sees it. Each run
 * uses a new data directory and its own loopback ports. The baseline, in the
 * same run and alternated with it, is the same start without the embedded
 * store's data-directory template (AIOPS_PGLITE_TEMPLATE_DIR pointed at an
 * empty directory), i.e. with PGlite's initdb as before the template
 * existed. Env: BENCH_START_RUNS (runs of each, 2).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

const runs = Number(process.env.BENCH_START_RUNS ?? 2);
const root = new URL('../..', import.meta.url).pathname;
const TIMEOUT_MS = 120_000;

/** One `npm start` in a new data directory; resolves with the seconds until host metrics are served. */
async function startOnce(withTemplate: boolean): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'aiops-bench-start-'));
  const token = randomBytes(16).toString('hex');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AIOPS_DATA_DIR: join(dir, 'hub'),
    AIOPS_AGENT_DATA_DIR: join(dir, 'agent'),
    AIOPS_HTTP_ADDRESS: '127.0.0.1:0',
    AIOPS_GRPC_ADDRESS: '127.0.0.1:0',
    AIOPS_AGENT_HTTP_ADDRESS: 'off',
    AIOPS_ADMIN_TOKEN: token,
    AIOPS_LOG_LEVEL: 'warn',
  };
  if (!withTemplate) env.AIOPS_PGLITE_TEMPLATE_DIR = join(dir, 'no-template');
  const started = performance.now();
  const child = spawn('npm', ['start'], {
    cwd: root,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  try {
    for (;;) {
      if (performance.now() - started > TIMEOUT_MS)
        throw new Error(`no host metrics within ${TIMEOUT_MS} ms:\n${output}`);
      if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${output}`);
      const url = /API:\s+(http:\/\/\S+\/api\/v1)/.exec(output)?.[1];
      if (url !== undefined) {
        const res = await fetch(`${url}/latest?source=host&limit=1`, {
          headers: { authorization: `Bearer ${token}` },
        }).catch(() => undefined);
        if (res?.ok) {
          const body = (await res.json()) as { values?: unknown[] };
          if ((body.values?.length ?? 0) > 0) return (performance.now() - started) / 1000;
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    // The whole group: npm, the hub and its agent.
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

console.log(
  `load average before the run: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
const withTemplate: number[] = [];
const initdb: number[] = [];
for (let i = 0; i < runs; i++) {
  withTemplate.push(await startOnce(true));
  console.log(`npm start, template: host metrics after ${withTemplate.at(-1)!.toFixed(2)} s`);
  initdb.push(await startOnce(false));
  console.log(`npm start, initdb:   host metrics after ${initdb.at(-1)!.toFixed(2)} s`);
}
const t = median(withTemplate);
const b = median(initdb);
console.log(
  `bench:start seconds_to_host_metrics=${t.toFixed(2)} baseline_initdb_seconds=${b.toFixed(2)} ratio=${(t / b).toFixed(2)}`,
);
