import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Settings of one installed replay `nvidia-smi` (see nvidia-smi-replay.mjs for each one's meaning). */
export interface ReplaySettings {
  /** nvidia_gpu_exporter capture file to play back. */
  readonly capture: string;
  /** File printed for `-q -x`. */
  readonly xml?: string;
  /** `-q -x` prints only after this many milliseconds. */
  readonly xmlDelayMs?: number;
  /** Replicate each recorded GPU N times (distinct index/UUID/bus id; a replication of one real capture). */
  readonly gpus?: number;
  readonly mode?: 'normal' | 'hang' | 'crash' | 'garbage' | 'no-driver';
  readonly after?: number;
  readonly times?: number;
  /** Directory where the replay writes its run counter and the loop's `pid`. */
  readonly stateDir?: string;
  /** Query duration of each loop cycle (ms), used in turn: lines come every interval + query. */
  readonly queryMs?: readonly number[];
}

export const replayScript = fileURLToPath(new URL('./nvidia-smi-replay.mjs', import.meta.url));
export const captureDir = fileURLToPath(new URL('../../../fixtures/gpu/captures/', import.meta.url));
export const xmlDir = fileURLToPath(new URL('../../../fixtures/gpu/xml/', import.meta.url));

/**
 * Writes an executable `nvidia-smi` into `dir` that plays back a recording
 * with these settings, and returns its absolute path (what the collector's
 * `nvidiaSmiPath` is set to). Settings live in the wrapper, not in the
 * caller's environment, so several replays can run side by side.
 */
export function installReplayNvidiaSmi(dir: string, settings: ReplaySettings): string {
  const env: Record<string, string> = { AIOPS_NVSMI_REPLAY_CAPTURE: settings.capture };
  if (settings.xml) env['AIOPS_NVSMI_REPLAY_XML'] = settings.xml;
  if (settings.xmlDelayMs) env['AIOPS_NVSMI_REPLAY_XML_DELAY_MS'] = String(settings.xmlDelayMs);
  if (settings.gpus) env['AIOPS_NVSMI_REPLAY_GPUS'] = String(settings.gpus);
  if (settings.mode) env['AIOPS_NVSMI_REPLAY_MODE'] = settings.mode;
  if (settings.after !== undefined) env['AIOPS_NVSMI_REPLAY_AFTER'] = String(settings.after);
  if (settings.times !== undefined) env['AIOPS_NVSMI_REPLAY_TIMES'] = String(settings.times);
  if (settings.stateDir) env['AIOPS_NVSMI_REPLAY_STATE'] = settings.stateDir;
  if (settings.queryMs) env['AIOPS_NVSMI_REPLAY_QUERY_MS'] = settings.queryMs.join(',');
  const path = join(dir, 'nvidia-smi');
  writeFileSync(
    path,
    `#!/usr/bin/env node\nObject.assign(process.env, ${JSON.stringify(env)});\nawait import(${JSON.stringify(replayScript)});\n`,
  );
  chmodSync(path, 0o755);
  return path;
}
