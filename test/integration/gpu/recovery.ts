import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';

/**
 * How much of two intervals the replacement nvidia-smi's own start-up may take. A real nvidia-smi with
 * persistence mode on starts in about 100–300 ms; the replay is a Node process, which on a loaded 2-core
 * machine alone can take longer than that. The collector's part must leave this much of two intervals.
 */
export const startUpAllowanceMs = 400;

/** The gap around a restart of the nvidia-smi child, split into what the collector and the child spent. */
export interface Recovery {
  /** Last sample before the replacement started → its first sample. */
  readonly gapMs: number;
  /** Last sample before → the replacement process started: detection, restart decision, spawn. */
  readonly collectorMs: number;
  /** The replacement process started → its first sample: the executable's own start-up. */
  readonly startUpMs: number;
  /** The first run's start-up (started-1 → the first sample), measured the same way: the machine's norm. */
  readonly firstStartUpMs: number;
}

/**
 * Splits the recovery gap in one series' sample timestamps at the moment a replacement nvidia-smi started
 * (the replay writes `started-<run>` into its state directory for each loop run). Of the replacements
 * (runs 2 and later), the one with the longest gap around its start is the fault's: a replacement started
 * beside a child that was only slow (and then dropped) sits in an ordinary gap. Sample timestamps are the
 * agent's receive times of the lines, so the split needs no clock but the machine's wall clock.
 */
export function recoveryAround(times: readonly number[], stateDir: string): Recovery {
  const runs = readdirSync(stateDir)
    .map((f) => /^started-(\d+)$/.exec(f)?.[1])
    .filter((run): run is string => run !== undefined && Number(run) >= 2);
  if (runs.length === 0) throw new Error(`no replacement nvidia-smi was started (${stateDir})`);
  const firstStartedMs = Number(readFileSync(join(stateDir, 'started-1'), 'utf8'));
  const firstSample = Math.min(...times.filter((t) => t >= firstStartedMs));
  if (!Number.isFinite(firstSample)) throw new Error(`no sample after run 1 started (${firstStartedMs})`);
  const firstStartUpMs = firstSample - firstStartedMs;
  let worst: Recovery | undefined;
  for (const run of runs) {
    const startedMs = Number(readFileSync(join(stateDir, `started-${run}`), 'utf8'));
    const before = times.filter((t) => t < startedMs);
    const after = times.filter((t) => t >= startedMs);
    if (before.length === 0 || after.length === 0)
      throw new Error(`no samples on both sides of run ${run}'s start (${startedMs}): ${times.join(' ')}`);
    const lastBefore = Math.max(...before);
    const firstAfter = Math.min(...after);
    const r = {
      gapMs: firstAfter - lastBefore,
      collectorMs: startedMs - lastBefore,
      startUpMs: firstAfter - startedMs,
      firstStartUpMs,
    };
    if (!worst || r.gapMs > worst.gapMs) worst = r;
  }
  return worst as Recovery;
}

/**
 * The pid of the replay's loop run that is alive now, the latest such run. Not simply the latest run: a
 * replacement started beside a slow child and then stopped is a later run, but dead.
 */
export function liveReplayPid(stateDir: string): number {
  const runs = readdirSync(stateDir)
    .map((f) => Number(/^pid-(\d+)$/.exec(f)?.[1]))
    .filter((run) => Number.isInteger(run))
    .sort((a, b) => b - a);
  for (const run of runs) {
    const pid = Number(readFileSync(join(stateDir, `pid-${run}`), 'utf8'));
    try {
      process.kill(pid, 0);
      return pid;
    } catch {
      // exited: an earlier run may be the live one
    }
  }
  throw new Error(`no replay loop process alive (${stateDir})`);
}

/**
 * The recovery claims, asserted. The collector's part (detection, restart, spawn) must leave
 * `startUpAllowanceMs` of two intervals. When the replacement started within that allowance, every gap
 * (the fault's included) must be within two intervals outright. A longer start-up is the replay's (a Node
 * process on a loaded machine), not the collector's: it is allowed beyond the two intervals only if it is
 * no slower than the same executable's first start in this run + 300 ms, and it is reported.
 */
export function expectRecoveryWithinTwoIntervals(
  r: Recovery,
  gaps: readonly number[],
  intervalMs: number,
  detail: string,
): void {
  expect(r.collectorMs, detail).toBeLessThanOrEqual(2 * intervalMs - startUpAllowanceMs);
  if (r.startUpMs <= startUpAllowanceMs) {
    expect(Math.max(...gaps), detail).toBeLessThanOrEqual(2 * intervalMs);
    return;
  }
  console.warn(
    `replacement start-up ${r.startUpMs} ms is over the ${startUpAllowanceMs} ms allowance (first run's: ${r.firstStartUpMs} ms); ${detail}`,
  );
  expect(r.startUpMs, `start-up vs the first run's; ${detail}`).toBeLessThanOrEqual(r.firstStartUpMs + 300);
  expect(Math.max(...gaps), detail).toBeLessThanOrEqual(2 * intervalMs + r.startUpMs - startUpAllowanceMs);
}
