/**
 * Tuning aid, and the check on it (`npx tsx test/bench/nab/tune.ts`):
 * coordinate descent of the novelty detector's parameters over a small grid
 * of neighbouring values, maximising the NAB standard score at the
 * corpus-optimised threshold. Because tuning on the test corpus flatters the
 * result, it also runs a two-fold check: files are split into two halves
 * (alternating within each category, in key order), parameters are tuned on
 * one half and scored on the other, so the printed held-out scores show how
 * much of a tuned gain survives on files the tuning did not see.
 * `--set name=value ...` skips the tuning and only scores that variant of the
 * shipped parameters on all files and on each half.
 * It reads labels (scorer side), never part of the detector.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { noveltyDetectorFactory } from '../../../hub/analysis/novelty-detector.js';
import { DEFAULT_NOVELTY_PARAMS, type NoveltyParams } from '../../../hub/analysis/novelty-params.js';
import { type NabFile, loadNabCorpus } from './corpus.js';
import { optimise, prepareRuns } from './report.js';
import { runDetector } from './run-detector.js';
import { NAB_PROFILES } from './scorer.js';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: join(import.meta.dirname, '..', '..', 'fixtures', 'nab') },
    passes: { type: 'string', default: '2' },
    set: { type: 'string', multiple: true },
  },
});
const out = (line: string): void => void process.stdout.write(`${line}\n`);

/** Neighbouring values tried for each parameter (the shipped value is always among them). */
const GRID: Partial<Record<keyof NoveltyParams, number[]>> = {
  todHours: [3, 4, 6],
  rateAlpha: [0.0015, 0.002, 0.003, 0.004],
  rateFloor: [0.0001, 0.0003, 0.001],
  rateInit: [0.05, 0.1, 0.2],
  restRows: [70, 100, 150],
  hotNats: [10, 12, 14],
  hotRateAlpha: [0.00025, 0.0005, 0.001],
  shapeZ: [2, 3, 4],
  shapeNatsPerSd: [0.5, 1, 1.5],
  logK: [10, 30, 100],
  deltaLevels: [8, 16, 32],
};

const std = NAB_PROFILES[0]!;
function score(params: NoveltyParams, files: readonly NabFile[]): number {
  return optimise(prepareRuns(runDetector(noveltyDetectorFactory(params), files)), std).score;
}

function tune(files: readonly NabFile[], label: string): NoveltyParams {
  let best: NoveltyParams = { ...DEFAULT_NOVELTY_PARAMS };
  let bestScore = score(best, files);
  out(`${label}: start ${bestScore.toFixed(2)}`);
  for (let pass = 0; pass < Number(args.passes); pass++) {
    let moved = false;
    for (const [name, values] of Object.entries(GRID) as Array<[keyof NoveltyParams, number[]]>) {
      for (const v of values) {
        if (v === best[name]) continue;
        const cand = { ...best, [name]: v };
        const s = score(cand, files);
        if (s > bestScore + 0.05) {
          best = cand;
          bestScore = s;
          moved = true;
          out(`${label}: ${name}=${v} -> ${s.toFixed(2)}`);
        }
      }
    }
    if (!moved) break;
  }
  return best;
}

const diff = (p: NoveltyParams): string =>
  (Object.keys(GRID) as Array<keyof NoveltyParams>)
    .filter((k) => p[k] !== DEFAULT_NOVELTY_PARAMS[k])
    .map((k) => `${k}=${p[k]}`)
    .join(' ') || '(defaults)';

const files = loadNabCorpus(args.data!);
const folds: [NabFile[], NabFile[]] = [[], []];
const seen = new Map<string, number>();
for (const f of [...files].sort((a, b) => (a.key < b.key ? -1 : 1))) {
  const i = seen.get(f.category) ?? 0;
  seen.set(f.category, i + 1);
  folds[i % 2]!.push(f);
}
if (args.set) {
  const params: Record<string, number> = { ...DEFAULT_NOVELTY_PARAMS };
  for (const kv of args.set) {
    const [k, v] = kv.split('=');
    if (!k || v === undefined || !(k in params)) throw new Error(`unknown parameter in --set ${kv}`);
    params[k] = Number(v);
  }
  const p = params as unknown as NoveltyParams;
  out(
    `${args.set.join(' ') || '(defaults)'}: all ${score(p, files).toFixed(2)}, half 0 ${score(p, folds[0]).toFixed(2)}, half 1 ${score(p, folds[1]).toFixed(2)}`,
  );
  process.exit(0);
}
for (const [k, [train, test]] of [
  [0, [folds[0], folds[1]]],
  [1, [folds[1], folds[0]]],
] as const) {
  const tuned = tune(train, `fold ${k}`);
  out(
    `fold ${k}: tuned ${diff(tuned)}; held-out half: defaults ${score(DEFAULT_NOVELTY_PARAMS, test).toFixed(2)}, tuned ${score(tuned, test).toFixed(2)}`,
  );
}
const all = tune(files, 'all');
out(`all files: tuned ${diff(all)}; score ${score(all, files).toFixed(2)}`);
