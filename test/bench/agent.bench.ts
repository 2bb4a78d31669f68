/**
 * bench:agent — what the agent costs a node: CPU seconds per minute and peak
 * RSS of the agent process at a 1 s collection interval with the host
 * collector and a replayed 8-GPU nvidia-smi, streaming to a real ingest
 * server (in this process, over the hub's in-memory test store: the hub is
 * not what is measured). Baseline in the same run: an idle Node.js process.
 *
 * The agent measured is the shipped one: the bundle agent/build.ts makes
 * (dist/agent/aiops-agent.mjs), run with agent/runtime.json's Node flags and
 * environment, configured only through its documented settings.
 *
 * Linux only (reads /proc/<pid>/stat and /proc/<pid>/status). Method and
 * results: docs/performance.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createIngestServer } from '../../hub/ingest/server.js';
import { MemoryStore } from '../../hub/ingest/testing/memory-store.js';
import { buildAgentBundle } from '../../agent/build.js';
import runtime from '../../agent/runtime.json' with { type: 'json' };
import { captureDir, installReplayNvidiaSmi } from '../integration/gpu/replay/install-replay.js';

const WARMUP_MS = Number(process.env.AIOPS_BENCH_WARMUP_MS ?? 8_000);
const MEASURE_MS = Number(process.env.AIOPS_BENCH_MEASURE_MS ?? 52_000);
const USER_HZ = 100;

interface Usage {
  cpuSeconds: number;
  peakRssMb: number;
  rssMb: number;
}

function usage(pid: number): Usage {
  // Fields after the ")" of the command name: utime is the 12th, stime the 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / USER_HZ;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024;
  return { cpuSeconds, peakRssMb: kb('VmHWM'), rssMb: kb('VmRSS') };
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts `node <args>`; ready when `ready()` resolves (or the child exits first: an error with its stderr). */
async function startChild(
  args: string[],
  env: Record<string, string>,
  ready: (proc: ChildProcess) => Promise<void>,
): Promise<ChildProcess> {
  const proc = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-5000)));
  proc.stdout!.resume();
  await Promise.race([
    ready(proc),
    new Promise((_, reject) =>
      proc.once('exit', (code) => reject(new Error(`child exited ${code}: ${err}`))),
    ),
  ]);
  return proc;
}

const printsReady = (proc: ChildProcess) =>
  new Promise<void>((resolve) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('READY')) resolve();
    });
  });

async function serves(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main(): Promise<void> {
  if (process.platform !== 'linux') throw new Error('bench:agent reads /proc and runs on Linux only');
  const dir = mkdtempSync(join(tmpdir(), 'aiops-bench-agent-'));
  const store = new MemoryStore();
  const server = createIngestServer({ store, logger: pino({ level: 'silent' }), registry: new Registry() });
  const port = await server.start('127.0.0.1:0');
  const { token } = await store.enrollmentTokens.create('bench', 'bench:agent');

  const capture = join(captureDir, 'nvge-capture__linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01.txt');
  const gpu =
    process.env.AIOPS_BENCH_GPU !== '0' &&
    existsSync(capture) &&
    existsSync(join(process.cwd(), 'agent/collectors/gpu/index.ts'));
  const nvidiaSmi = gpu ? installReplayNvidiaSmi(dir, { capture, gpus: 8 }) : undefined;

  const bundle = await buildAgentBundle();
  const configFile = join(dir, 'agent.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      collectors: nvidiaSmi
        ? {
            gpu: {
              nvidiaSmiPath: nvidiaSmi,
              sampleIntervalMs: 1000,
              dcgmUrl: '',
              kmsgPath: '',
              podResourcesSocket: '',
            },
          }
        : {},
    }),
  );
  const extraFlags = (process.env.AIOPS_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const nodeFlags = [...runtime.nodeFlags, ...extraFlags];
  const baseline = await startChild(
    ['-e', 'process.stdout.write("READY\\n"); setInterval(() => {}, 1000);'],
    {},
    printsReady,
  );
  const httpPort = await freePort();
  const agent = await startChild(
    [...nodeFlags, bundle, 'run'],
    {
      ...(runtime.env as Record<string, string>),
      AIOPS_AGENT_CONFIG: configFile,
      AIOPS_AGENT_COLLECTORS: gpu ? 'host,gpu' : 'host',
      AIOPS_AGENT_HUB_ADDRESS: `127.0.0.1:${port}`,
      AIOPS_AGENT_TOKEN: token,
      AIOPS_AGENT_CLUSTER: 'bench',
      AIOPS_AGENT_NODE_NAME: 'bench-node',
      AIOPS_AGENT_DATA_DIR: join(dir, 'agent'),
      AIOPS_AGENT_HTTP_ADDRESS: `127.0.0.1:${httpPort}`,
      AIOPS_AGENT_LOG_LEVEL: 'warn',
      AIOPS_AGENT_INTERVAL_MS: '1000',
    },
    () => serves(`http://127.0.0.1:${httpPort}/readyz`),
  );
  try {
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    const samplesBefore = store.samples.length;
    const a0 = usage(agent.pid!);
    const b0 = usage(baseline.pid!);
    const kids0 = childrenOf(agent.pid!).map((pid) => ({ pid, u: usage(pid) }));
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, MEASURE_MS));
    const wallS = (performance.now() - t0) / 1000;
    const a1 = usage(agent.pid!);
    const b1 = usage(baseline.pid!);
    const kidsCpu = kids0.reduce((n, k) => {
      try {
        return n + usage(k.pid).cpuSeconds - k.u.cpuSeconds;
      } catch {
        return n;
      }
    }, 0);
    const samples = store.samples.length - samplesBefore;
    const metricsText = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const heapMb =
      Number(/^agent_process_heap_used_bytes (\S+)/m.exec(metricsText)?.[1] ?? NaN) / 1024 / 1024;
    const agentCpuPct = ((a1.cpuSeconds - a0.cpuSeconds) / wallS) * 100;
    const baseCpuPct = ((b1.cpuSeconds - b0.cpuSeconds) / wallS) * 100;
    const r = (n: number, d = 2) => Number(n.toFixed(d));
    process.stdout.write(
      [
        `agent command: node ${[...nodeFlags, bundle.replace(`${process.cwd()}/`, '')].join(' ')} run${Object.keys(runtime.env).length ? ` (env ${JSON.stringify(runtime.env)})` : ''}`,
        `sources: host${gpu ? ' + replayed 8-GPU nvidia-smi (H100 capture)' : ' (GPU replay missing: host only)'}; interval 1 s; measured ${r(wallS, 1)} s after ${WARMUP_MS / 1000} s warm-up`,
        `agent:    cpu ${r((a1.cpuSeconds - a0.cpuSeconds) * (60 / wallS))} s/min (${r(agentCpuPct)}% of one core), peak RSS ${r(a1.peakRssMb, 1)} MB (at warm-up end ${r(a0.peakRssMb, 1)} MB, now ${r(a1.rssMb, 1)} MB)`,
        `baseline: cpu ${r((b1.cpuSeconds - b0.cpuSeconds) * (60 / wallS))} s/min (${r(baseCpuPct)}% of one core), peak RSS ${r(b1.peakRssMb, 1)} MB (idle node)`,
        `ratio:    rss ${r(a1.peakRssMb / b1.peakRssMb)}x baseline; child processes (nvidia-smi replay): ${r(kidsCpu * (60 / wallS))} cpu s/min, not counted above`,
        `agent V8 heap in use at the end: ${r(heapMb, 1)} MB`,
        `delivered: ${samples} samples stored by the hub in the window (${r(samples / wallS, 0)}/s)`,
        `bench:agent cpu_pct_of_core=${r(agentCpuPct)} rss_mb=${r(a1.peakRssMb, 1)} baseline_rss_mb=${r(b1.peakRssMb, 1)}`,
      ].join('\n') + '\n',
    );
  } finally {
    agent.kill('SIGTERM');
    baseline.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    await server.stop({ timeoutMs: 1000 });
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
