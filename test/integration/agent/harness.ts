import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type pg from 'pg';
import { decodeBatch } from '../../../agent/encode/batch.js';
import { scanRecords } from '../../../agent/pipeline/spool/record.js';
import { createTestDatabase as createDatabase } from '../../support/databases.js';

const here = new URL('.', import.meta.url).pathname;
const tsxLoader = ['--import', 'tsx'];

/** A throwaway database on the test PostgreSQL server, so suites never share state. */
export function createTestDatabase(baseUrl: string): ReturnType<typeof createDatabase> {
  return createDatabase(baseUrl, 'aiops_agent_rel');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A child process started from a script in this folder that prints "READY <n>" when up. */
export class Child {
  private proc: ChildProcess | undefined;
  stderr = '';
  /** The number after READY (a port). */
  readyValue = 0;

  constructor(
    private readonly script: string,
    private readonly env: Record<string, string>,
  ) {}

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async start(timeoutMs = 30_000): Promise<void> {
    const proc = spawn(process.execPath, [...tsxLoader, join(here, this.script)], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    proc.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-20_000);
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`${this.script} not ready in ${timeoutMs} ms:\n${this.stderr}`)),
        timeoutMs,
      );
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /READY (\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          this.readyValue = Number(m[1]);
          resolve();
        }
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${this.script} exited (${code ?? signal}) before ready:\n${this.stderr}`));
      });
    });
  }

  /** Sends `signal` and waits for the exit. */
  async kill(signal: NodeJS.Signals): Promise<void> {
    const proc = this.proc;
    if (!proc || !this.running) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    await exited;
  }
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  stepMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Every value of test_sequence_value stored for `agentCluster`, in ascending order (duplicates kept). */
export async function storedValues(db: pg.Client, cluster: string): Promise<number[]> {
  const r = await db.query<{ value: number }>(
    `SELECT s.value FROM samples s JOIN series x ON x.id = s.series_id
     WHERE x.cluster = $1 AND x.metric = 'test_sequence_value' ORDER BY s.value`,
    [cluster],
  );
  return r.rows.map((row) => Number(row.value));
}

/** Values the sequence collector generated, from its log ("first last" per run). */
export function generatedRuns(logFile: string): [number, number][] {
  let text = '';
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ').map(Number) as [number, number]);
}

export interface SpooledRecord {
  readonly segment: string;
  readonly offset: number;
  readonly sizeBytes: number;
  readonly sequence: number;
  /** Samples in the record (its header), test values and others. */
  readonly samples: number;
  readonly values: number[];
}

/**
 * Reads the agent's spool files (read-only) and decodes the test values of
 * every valid record; `ext` 'rec' reads the dead-letter directory instead.
 */
export function readSpool(spoolDir: string, ext: 'seg' | 'rec' = 'seg'): SpooledRecord[] {
  const out: SpooledRecord[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(spoolDir)
      .filter((n) => n.endsWith(`.${ext}`))
      .sort();
  } catch {
    return out;
  }
  for (const segment of names) {
    const { records } = scanRecords(readFileSync(join(spoolDir, segment)), 0, 64 * 1024 * 1024);
    for (const r of records) {
      const batch = decodeBatch(r.payload);
      const testRefs = new Set(
        batch.series.filter((s) => s.metric === 'test_sequence_value').map((s) => s.ref),
      );
      const values = batch.samples.filter((s) => testRefs.has(s.ref)).flatMap((s) => s.values);
      out.push({
        segment,
        offset: r.offset,
        sizeBytes: r.sizeBytes,
        sequence: r.sequence,
        samples: r.samples,
        values,
      });
    }
  }
  return out;
}

/** 1..n as a checksum-friendly summary. */
export function summary(values: readonly number[]): { count: number; sum: number; distinct: number } {
  return { count: values.length, sum: values.reduce((a, b) => a + b, 0), distinct: new Set(values).size };
}

export async function scrapeMetric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').at(-1)) : NaN;
}
