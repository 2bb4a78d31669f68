import { readFileSync } from 'node:fs';
import { join } from 'node:path';

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
}

/**
 * Splits the recovery gap in one series' sample timestamps at the moment the replay's loop run `run`
 * started (written by the replay into its state directory). Sample timestamps are the agent's receive
 * times of the lines, so the split needs no clock but the machine's wall clock.
 */
export function recoveryAt(times: readonly number[], stateDir: string, run: number): Recovery {
  const startedMs = Number(readFileSync(join(stateDir, `started-${run}`), 'utf8'));
  const before = times.filter((t) => t < startedMs);
  const after = times.filter((t) => t >= startedMs);
  if (before.length === 0 || after.length === 0)
    throw new Error(`no samples on both sides of run ${run}'s start (${startedMs}): ${times.join(' ')}`);
  const lastBefore = Math.max(...before);
  const firstAfter = Math.min(...after);
  return {
    gapMs: firstAfter - lastBefore,
    collectorMs: startedMs - lastBefore,
    startUpMs: firstAfter - startedMs,
  };
}
