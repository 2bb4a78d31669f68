import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildQueryPlan, parseRow, queryArgument } from '../../../agent/collectors/gpu/query.js';
import { SmiStream } from '../../../agent/collectors/gpu/smi-stream.js';
import { captureDir, installReplayNvidiaSmi } from './replay/install-replay.js';

const h100 = join(captureDir, 'nvge-capture__linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01.txt');
const logger = pino({ level: 'silent' });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let dir: string;
let stream: SmiStream | undefined;
/** Every real process spawned, killed for real at the end. */
const spawned: ChildProcess[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'aiops-smi-stream-'));
});
afterEach(async () => {
  for (const child of spawned.splice(0)) {
    try {
      process.kill(child.pid as number, 'SIGKILL'); // a stopped process dies on SIGKILL too
    } catch {
      // already gone
    }
  }
  await stream?.stop();
  stream = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Spawns the real replay process, but turns every signal the stream sends into SIGSTOP: the child
 * stays alive and never exits, as a real nvidia-smi stuck in the driver (uninterruptible sleep) does
 * after SIGKILL. No process can ignore SIGKILL, so this is how "no 'exit' ever" is reproduced.
 */
function stuckSpawn(executable: string, args: string[], options: SpawnOptions): ChildProcess {
  const child = spawn(executable, args, options);
  spawned.push(child);
  const sent: string[] = [];
  child.kill = (signal?: NodeJS.Signals | number): boolean => {
    sent.push(String(signal));
    process.kill(child.pid as number, 'SIGSTOP');
    return true;
  };
  (child as ChildProcess & { sent: string[] }).sent = sent;
  return child;
}

function newStream(executable: string, failures: { reason: string; atMs: number }[]): SmiStream {
  return new SmiStream({
    executable,
    args: ['--query-gpu=uuid', '--format=csv,noheader,nounits', '-lms', '100'],
    intervalMs: 100,
    hangTimeoutMs: 400,
    hangMarginMs: 200,
    startTimeoutMs: 10_000,
    backoffInitialMs: 60_000,
    backoffMaxMs: 60_000,
    maxGarbageLines: 3,
    logger,
    now: Date.now,
    killGraceMs: 700,
    spawn: stuckSpawn,
    onLine: () => true,
    onFailure: (reason) => failures.push({ reason, atMs: Date.now() }),
  });
}

describe('nvidia-smi stream with a child that never exits after SIGKILL', () => {
  it('reports the hang and restarts when the kill is sent, then abandons the old child', async () => {
    const exe = installReplayNvidiaSmi(dir, { capture: h100, mode: 'hang', after: 1, times: 1 });
    const failures: { reason: string; atMs: number }[] = [];
    stream = newStream(exe, failures);
    stream.start();
    const end = Date.now() + 10_000;
    while (failures.length === 0 && Date.now() < end) await sleep(20);
    expect(failures).toHaveLength(1);
    // One line only: no cadence observed yet, so the longest deadline applies.
    expect(failures[0]?.reason).toMatch(
      /hung: no line within 400 ms \(longest deadline: cadence not yet observed\)/,
    );
    const first = spawned[0] as ChildProcess & { sent: string[] };
    expect(first.sent).toEqual(['SIGKILL']);
    // Reported while the killed child is still there (stopped, no 'exit'): not at exit time.
    expect(first.exitCode).toBeNull();
    expect(first.signalCode).toBeNull();
    expect(() => process.kill(first.pid as number, 0)).not.toThrow();
    // Reported at the kill, not when the kill grace ran out and the child was abandoned.
    expect(stream.abandoned).toBe(0);
    // The first failure restarts at once: a second child, which prints its line too.
    while (stream.rows < 2 && Date.now() < end) await sleep(20);
    expect(spawned).toHaveLength(2);
    expect(stream.restarts).toBe(1);
    expect(stream.rows).toBeGreaterThanOrEqual(2);
    while (stream.abandoned === 0 && Date.now() < end) await sleep(20);
    expect(stream.abandoned).toBe(1);
    expect(first.exitCode).toBeNull(); // still no 'exit': given up on, not waited for
  }, 20_000);

  it('stop() returns within SIGTERM grace + kill grace when the child never exits', async () => {
    const exe = installReplayNvidiaSmi(dir, { capture: h100 });
    const failures: { reason: string; atMs: number }[] = [];
    stream = newStream(exe, failures);
    stream.start();
    const end = Date.now() + 10_000;
    while (stream.rows < 1 && Date.now() < end) await sleep(20);
    expect(stream.rows).toBeGreaterThanOrEqual(1);
    const startedMs = Date.now();
    await stream.stop();
    const tookMs = Date.now() - startedMs;
    // 2 s SIGTERM grace + 700 ms kill grace; without a bound this never resolves.
    expect(tookMs).toBeGreaterThanOrEqual(2_600);
    expect(tookMs).toBeLessThan(4_500);
    expect((spawned[0] as ChildProcess & { sent: string[] }).sent).toEqual(['SIGTERM', 'SIGKILL']);
    expect(stream.abandoned).toBe(1);
    expect(failures).toEqual([]); // a stop is not a failure
  }, 20_000);

  it('stop() waits for a real child that exits on SIGTERM, and no longer', async () => {
    const exe = installReplayNvidiaSmi(dir, { capture: h100 });
    stream = new SmiStream({
      executable: exe,
      args: ['--query-gpu=uuid', '--format=csv,noheader,nounits', '-lms', '100'],
      intervalMs: 100,
      hangTimeoutMs: 400,
      hangMarginMs: 200,
      startTimeoutMs: 10_000,
      backoffInitialMs: 100,
      backoffMaxMs: 1_000,
      maxGarbageLines: 3,
      logger,
      now: Date.now,
      onLine: () => true,
      onFailure: () => undefined,
    });
    stream.start();
    const end = Date.now() + 10_000;
    while (stream.rows < 1 && Date.now() < end) await sleep(20);
    const startedMs = Date.now();
    await stream.stop();
    expect(Date.now() - startedMs).toBeLessThan(1_500);
    expect(stream.abandoned).toBe(0);
  }, 20_000);
});

describe('nvidia-smi stream hang deadline, adapted to the observed cadence', () => {
  /** A stream on the real replay process (plain spawn), collecting each line's arrival time. */
  function adaptiveStream(
    exe: string,
    intervalMs: number,
    hangMarginMs: number,
    hangTimeoutMs: number,
    failures: { reason: string; atMs: number }[],
    lines: number[],
  ): SmiStream {
    return new SmiStream({
      executable: exe,
      args: ['--query-gpu=uuid', '--format=csv,noheader,nounits', '-lms', String(intervalMs)],
      intervalMs,
      hangTimeoutMs,
      hangMarginMs,
      startTimeoutMs: 10_000,
      backoffInitialMs: 60_000,
      backoffMaxMs: 60_000,
      maxGarbageLines: 3,
      logger,
      now: Date.now,
      onLine: () => {
        lines.push(performance.now());
        return true;
      },
      onFailure: (reason) => failures.push({ reason, atMs: performance.now() }),
    });
  }

  it('keeps a healthy child whose lines come every interval + a slow query, and learns that cadence', async () => {
    // 300 ms interval + 500 ms query: a line every ~800 ms. A fixed deadline of interval + 300 ms would
    // restart this healthy child on every cycle.
    const exe = installReplayNvidiaSmi(dir, { capture: h100, queryMs: [500] });
    const failures: { reason: string; atMs: number }[] = [];
    const lines: number[] = [];
    stream = adaptiveStream(exe, 300, 150, 10_000, failures, lines);
    stream.start();
    await sleep(5_000);
    expect(failures).toEqual([]);
    expect(lines.length).toBeGreaterThanOrEqual(4);
    const gaps = lines.slice(1).map((t, i) => t - (lines[i] as number));
    // The deadline is the longest silence seen + the margin: above the cadence, far below the 10 s bound.
    expect(stream.hangDeadlineMs).toBeGreaterThanOrEqual(Math.max(...gaps) + 150 - 1);
    expect(stream.hangDeadlineMs).toBeLessThan(Math.max(...gaps) + 150 + 1);
    expect(stream.hangDeadlineMs).toBeGreaterThanOrEqual(800 + 150);
  }, 15_000);

  it('starts the replacement one observed cadence + margin after the last line and reports the hang when it streams', async () => {
    const exe = installReplayNvidiaSmi(dir, {
      capture: h100,
      mode: 'hang',
      after: 5,
      times: 1,
      stateDir: join(dir, 'state'),
      queryMs: [200],
    });
    const failures: { reason: string; atMs: number }[] = [];
    const lines: number[] = [];
    stream = adaptiveStream(exe, 300, 150, 10_000, failures, lines);
    stream.start();
    const end = Date.now() + 10_000;
    while (failures.length === 0 && Date.now() < end) await sleep(20);
    expect(failures).toHaveLength(1);
    expect(failures[0]?.reason).toMatch(
      /hung: no line within \d+ ms \(observed cadence \d+ ms \+ margin 150 ms\)/,
    );
    expect(lines.length).toBeGreaterThanOrEqual(6);
    const before = lines.slice(0, 5);
    const cadence = Math.max(...before.slice(1).map((t, i) => t - (before[i] as number)));
    // The replacement started when the deadline passed: its first line minus its own start-up.
    const replacementStartedAt = (lines[5] as number) - (stream.lastStartUpMs as number);
    const detectedAfter = replacementStartedAt - (before[4] as number);
    expect(detectedAfter).toBeGreaterThanOrEqual(cadence + 150 - 2);
    // The timer and the check after the I/O phase add a little; nowhere near the 10 s longest deadline.
    expect(detectedAfter).toBeLessThan(cadence + 150 + 500);
    // Reported when the replacement printed, which it did; the hung child is gone.
    expect((failures[0]?.atMs as number) - (lines[5] as number)).toBeLessThan(50);
    expect(stream.restarts).toBe(1);
    expect(stream.slowCycles).toBe(0);
  }, 20_000);

  it('keeps a child that prints after the deadline but before its replacement: a slow cycle, no failure', async () => {
    // The stream child: a 300 ms interval, cycles of 50 ms, the 6th cycle's query 1.2 s (a load spike).
    const exe = installReplayNvidiaSmi(dir, {
      capture: h100,
      queryMs: [50, 50, 50, 50, 50, 1_200, 50, 50, 50, 50, 50, 50],
    });
    // Its replacement, started beside it when the deadline passes: as slow as the driver that slowed the
    // first (a real process that starts and prints nothing).
    const slowDir = join(dir, 'slow');
    mkdirSync(slowDir);
    const slowExe = installReplayNvidiaSmi(slowDir, { capture: h100, mode: 'hang', after: 0, times: 0 });
    const children: ChildProcess[] = [];
    const failures: { reason: string; atMs: number }[] = [];
    const lines: number[] = [];
    stream = new SmiStream({
      executable: exe,
      args: ['--query-gpu=uuid', '--format=csv,noheader,nounits', '-lms', '300'],
      intervalMs: 300,
      hangTimeoutMs: 10_000,
      hangMarginMs: 150,
      startTimeoutMs: 10_000,
      backoffInitialMs: 60_000,
      backoffMaxMs: 60_000,
      maxGarbageLines: 3,
      logger,
      now: Date.now,
      spawn: (executable, args, options) => {
        const child = spawn(children.length === 0 ? executable : slowExe, args, options);
        children.push(child);
        spawned.push(child);
        return child;
      },
      onLine: () => {
        lines.push(performance.now());
        return true;
      },
      onFailure: (reason) => failures.push({ reason, atMs: performance.now() }),
    });
    stream.start();
    const end = Date.now() + 10_000;
    while (lines.length < 9 && Date.now() < end) await sleep(20);
    expect(lines.length).toBeGreaterThanOrEqual(9);
    // The replacement was started (the slow cycle passed the deadline) and then stopped.
    expect(children).toHaveLength(2);
    const replacement = children[1] as ChildProcess;
    while (replacement.exitCode === null && replacement.signalCode === null && Date.now() < end)
      await sleep(20);
    expect(replacement.signalCode).toBe('SIGKILL');
    expect(failures).toEqual([]);
    expect(stream.slowCycles).toBe(1);
    expect(stream.restarts).toBe(0);
    // The slow silence was learned: the deadline now allows for it.
    const gaps = lines.slice(1).map((t, i) => t - (lines[i] as number));
    expect(Math.max(...gaps)).toBeGreaterThan(1_200);
    expect(stream.hangDeadlineMs).toBeGreaterThanOrEqual(Math.max(...gaps) + 150 - 2);
  }, 20_000);

  it('reports a replacement that cannot start, then judges the silent child at the longest deadline', async () => {
    const exe = installReplayNvidiaSmi(dir, {
      capture: h100,
      mode: 'hang',
      after: 4,
      times: 1,
      stateDir: join(dir, 'state'),
    });
    const executables: string[] = [];
    const failures: { reason: string; atMs: number }[] = [];
    const lines: number[] = [];
    stream = new SmiStream({
      executable: exe,
      args: ['--query-gpu=uuid', '--format=csv,noheader,nounits', '-lms', '200'],
      intervalMs: 200,
      hangTimeoutMs: 1_500,
      hangMarginMs: 100,
      startTimeoutMs: 10_000,
      backoffInitialMs: 100,
      backoffMaxMs: 1_000,
      maxGarbageLines: 3,
      logger,
      now: Date.now,
      // The replacement started beside the silent child is an executable that is not there.
      spawn: (executable, args, options) => {
        const path = executables.length === 1 ? join(dir, 'missing', 'nvidia-smi') : executable;
        executables.push(path);
        const child = spawn(path, args, options);
        spawned.push(child);
        return child;
      },
      onLine: () => {
        lines.push(performance.now());
        return true;
      },
      onFailure: (reason) => failures.push({ reason, atMs: performance.now() }),
    });
    stream.start();
    const end = Date.now() + 10_000;
    while (failures.length < 2 && Date.now() < end) await sleep(20);
    expect(failures.map((f) => f.reason)).toEqual([
      expect.stringMatching(/^replacement could not be started: spawn .*ENOENT/),
      'hung: no line within 1500 ms (longest deadline: a replacement started beside it had failed)',
    ]);
    // Killed at the longest deadline after its 4th (last) line, not at the adaptive one.
    expect((failures[1]?.atMs as number) - (lines[3] as number)).toBeGreaterThanOrEqual(1_500 - 2);
    // Then restarted the ordinary way (second failure in a row: after the backoff), and it streams.
    while (lines.length < 6 && Date.now() < end) await sleep(20);
    expect(lines.length).toBeGreaterThanOrEqual(6);
    expect(executables).toEqual([exe, join(dir, 'missing', 'nvidia-smi'), exe]);
  }, 20_000);

  it('holds the longest deadline while our own nvidia-smi call runs, and applies the adaptive one when it ends', async () => {
    const exe = installReplayNvidiaSmi(dir, {
      capture: h100,
      mode: 'hang',
      after: 4,
      times: 1,
      stateDir: join(dir, 'state'),
    });
    const failures: { reason: string; atMs: number }[] = [];
    const lines: number[] = [];
    stream = adaptiveStream(exe, 100, 100, 5_000, failures, lines);
    stream.start();
    const end = Date.now() + 10_000;
    while (lines.length < 2 && Date.now() < end) await sleep(5);
    const release = stream.holdDeadline();
    expect(stream.hangDeadlineMs).toBe(5_000);
    // Silent since the 4th line; the adaptive deadline (~200 ms) passes several times over while held.
    await sleep(1_200);
    expect(lines).toHaveLength(4);
    expect(failures).toEqual([]);
    const releasedAt = performance.now();
    release();
    while (failures.length === 0 && Date.now() < end) await sleep(5);
    expect(failures).toHaveLength(1);
    expect(failures[0]?.reason).toMatch(/observed cadence/);
    // Checked at once on release, not at the timer armed for the longest deadline: the replacement
    // (whose first line is the 5th) was started right then.
    expect(lines.length).toBeGreaterThanOrEqual(5);
    const replacementStartedAt = (lines[4] as number) - (stream.lastStartUpMs as number);
    expect(replacementStartedAt - releasedAt).toBeLessThan(300);
  }, 20_000);

  it('while our own call runs, detects a hang at the adaptive deadline + our longest recent call, not at the longest deadline', async () => {
    const exe = installReplayNvidiaSmi(dir, {
      capture: h100,
      mode: 'hang',
      after: 15,
      times: 1,
      stateDir: join(dir, 'state'),
    });
    const failures: { reason: string; atMs: number }[] = [];
    const lines: number[] = [];
    stream = adaptiveStream(exe, 100, 100, 5_000, failures, lines);
    stream.start();
    const end = Date.now() + 12_000;
    while (lines.length < 3 && Date.now() < end) await sleep(5);
    // One call of ours, timed: about 300 ms.
    const first = stream.holdDeadline();
    await sleep(300);
    first();
    // A second call starts and is still running when the child hangs after its 15th line.
    const release = stream.holdDeadline();
    try {
      const held = stream.hangDeadlineMs;
      expect(held).toBeGreaterThanOrEqual(100 + 100 + 300);
      expect(held).toBeLessThan(5_000);
      while (failures.length === 0 && Date.now() < end) await sleep(5);
      expect(failures).toHaveLength(1);
      expect(failures[0]?.reason).toMatch(
        /hung: no line within \d+ ms \(observed cadence \d+ ms \+ margin 100 ms \+ our own nvidia-smi call \(running, recent ones up to \d+ ms\)\)/,
      );
      expect(lines.length).toBeGreaterThanOrEqual(16);
      // The replacement (its first line is the 16th) started at the held deadline after the 15th line,
      // far sooner than the 5 s longest deadline that applied while a call of ours ran.
      const replacementStartedAt = (lines[15] as number) - (stream.lastStartUpMs as number);
      const detectedAfter = replacementStartedAt - (lines[14] as number);
      expect(detectedAfter).toBeGreaterThanOrEqual(held - 2);
      expect(detectedAfter).toBeLessThan(held + 1_000);
    } finally {
      release();
    }
  }, 20_000);

  it('keeps a slow child when its replacement prints only an nvidia-smi error line: that line is counted, not a win', async () => {
    // The real row parser judges each line: index and uuid columns, as the collector asks for them.
    const plan = buildQueryPlan(new Set(['index', 'uuid']));
    // The stream child: 300 ms interval, cycles of 50 ms, the 6th cycle's query 2.5 s (a load spike).
    const exe = installReplayNvidiaSmi(dir, {
      capture: h100,
      queryMs: [50, 50, 50, 50, 50, 2_500, 50, 50, 50, 50, 50, 50],
    });
    // Its replacement prints nvidia-smi's own error message on stdout every interval, never a row.
    const errDir = join(dir, 'err');
    mkdirSync(errDir);
    const errExe = installReplayNvidiaSmi(errDir, { capture: h100, mode: 'garbage', after: 0, times: 0 });
    const children: ChildProcess[] = [];
    const failures: { reason: string; atMs: number }[] = [];
    const valid: number[] = [];
    let invalid = 0;
    stream = new SmiStream({
      executable: exe,
      args: [queryArgument(plan), '--format=csv,noheader,nounits', '-lms', '300'],
      intervalMs: 300,
      hangTimeoutMs: 10_000,
      hangMarginMs: 150,
      startTimeoutMs: 10_000,
      backoffInitialMs: 60_000,
      backoffMaxMs: 60_000,
      maxGarbageLines: 3,
      logger,
      now: Date.now,
      spawn: (executable, args, options) => {
        const child = spawn(children.length === 0 ? executable : errExe, args, options);
        children.push(child);
        spawned.push(child);
        return child;
      },
      onLine: (line) => {
        const ok = parseRow(plan, line).ok;
        if (ok) valid.push(performance.now());
        else invalid += 1;
        return ok;
      },
      onFailure: (reason) => failures.push({ reason, atMs: performance.now() }),
    });
    stream.start();
    const end = Date.now() + 12_000;
    while (valid.length < 9 && Date.now() < end) await sleep(20);
    expect(valid.length).toBeGreaterThanOrEqual(9);
    expect(children).toHaveLength(2);
    // The replacement did print its error line (more than maxGarbageLines of them) during the race.
    expect(invalid).toBeGreaterThanOrEqual(1);
    const replacement = children[1] as ChildProcess;
    while (replacement.exitCode === null && replacement.signalCode === null && Date.now() < end)
      await sleep(20);
    // The old child printed a valid row and won: the replacement was stopped, nothing reported.
    expect(replacement.signalCode).toBe('SIGKILL');
    expect(children[0]?.exitCode).toBeNull();
    expect(children[0]?.signalCode).toBeNull();
    expect(failures).toEqual([]);
    expect(stream.slowCycles).toBe(1);
    expect(stream.restarts).toBe(0);
  }, 25_000);

  it('stop() during a replacement ends both children and waits until both are reaped', async () => {
    const exe = installReplayNvidiaSmi(dir, { capture: h100, mode: 'hang', after: 4, times: 0 });
    // The replacement starts and prints nothing: stop() comes while both children are alive.
    const silentDir = join(dir, 'silent');
    mkdirSync(silentDir);
    const silentExe = installReplayNvidiaSmi(silentDir, { capture: h100, mode: 'hang', after: 0, times: 0 });
    const children: ChildProcess[] = [];
    const failures: { reason: string; atMs: number }[] = [];
    stream = new SmiStream({
      executable: exe,
      args: ['--query-gpu=uuid', '--format=csv,noheader,nounits', '-lms', '100'],
      intervalMs: 100,
      hangTimeoutMs: 10_000,
      hangMarginMs: 100,
      startTimeoutMs: 10_000,
      backoffInitialMs: 60_000,
      backoffMaxMs: 60_000,
      maxGarbageLines: 3,
      logger,
      now: Date.now,
      spawn: (executable, args, options) => {
        const child = spawn(children.length === 0 ? executable : silentExe, args, options);
        children.push(child);
        spawned.push(child);
        return child;
      },
      onLine: () => true,
      onFailure: (reason) => failures.push({ reason, atMs: performance.now() }),
    });
    stream.start();
    const end = Date.now() + 10_000;
    while (children.length < 2 && Date.now() < end) await sleep(20);
    expect(children).toHaveLength(2);
    expect(stream.running).toBe(true);
    await stream.stop();
    for (const child of children) {
      // 'exit' was seen for both: reaped, not abandoned.
      expect(child.exitCode !== null || child.signalCode !== null).toBe(true);
      expect(() => process.kill(child.pid as number, 0)).toThrow();
    }
    expect(children[0]?.signalCode).toBe('SIGKILL'); // the silent old child: no SIGTERM grace
    expect(stream.abandoned).toBe(0);
    expect(stream.running).toBe(false);
    expect(failures).toEqual([]); // a stop is not a failure
    await sleep(300);
    expect(children).toHaveLength(2); // and nothing was restarted after the stop
  }, 20_000);
});

describe('nvidia-smi stream restart backoff', () => {
  it('backs off for a child that prints one cycle of rows and dies: one valid row is not a healthy run', async () => {
    // Every run prints one cycle, then exits with code 4 at the next tick.
    const exe = installReplayNvidiaSmi(dir, { capture: h100, mode: 'crash', after: 1, times: 0 });
    const spawnedAt: number[] = [];
    const failures: { reason: string; atMs: number }[] = [];
    stream = new SmiStream({
      executable: exe,
      args: ['--query-gpu=uuid', '--format=csv,noheader,nounits', '-lms', '100'],
      intervalMs: 100,
      hangTimeoutMs: 5_000,
      hangMarginMs: 100,
      startTimeoutMs: 10_000,
      backoffInitialMs: 400,
      backoffMaxMs: 10_000,
      maxGarbageLines: 3,
      logger,
      now: Date.now,
      spawn: (executable, args, options) => {
        spawnedAt.push(performance.now());
        const child = spawn(executable, args, options);
        spawned.push(child);
        return child;
      },
      onLine: () => true,
      onFailure: (reason) => failures.push({ reason, atMs: performance.now() }),
    });
    stream.start();
    const end = Date.now() + 15_000;
    while (spawnedAt.length < 4 && Date.now() < end) await sleep(20);
    expect(spawnedAt.length).toBeGreaterThanOrEqual(4);
    expect(stream.rows).toBeGreaterThanOrEqual(3); // each run did print its row
    expect(failures[0]?.reason).toMatch(/exited with code 4/);
    // Restart delay after each failure: the first at once, then the backoff doubling (400, 800 ms).
    const delays = [0, 1, 2].map((i) => (spawnedAt[i + 1] as number) - (failures[i]?.atMs as number));
    expect(delays[0]).toBeLessThan(200);
    expect(delays[1]).toBeGreaterThanOrEqual(400 - 2);
    expect(delays[2]).toBeGreaterThanOrEqual(800 - 2);
  }, 20_000);
});
