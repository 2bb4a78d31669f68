/**
 * Tuning aid, and the check on it (`npx tsx test/bench/nab/tune.ts`):
 * coordinate descent of the novelty detector's parameters over a small grid
 * of neighbouring values, maximising the NAB standard score at the
 * corpus-optimised threshold. Because tuning on the test corpus flatters the
 * result, it also runs a two-fold check: files are split into two halves
 * (alternating within each category, in key order), parameters are tuned on
 * one half and scored on the other, so the printed held-out scores show how
 * much of a tuned gain survives on files the tuning did not see. Nothing is
 * fitted on the held-out half, the threshold included: it is scored at the
 * shipped default threshold and at the threshold optimised on the training
 * half (optimising it on the held-out half would fit it to the data held out).
 * `--start name=value` (once per parameter) starts the descent from a
 * variant of the shipped parameters; `--folds-only` skips the final descent
 * on all files.
 * `--set name=value` (once per parameter: `--set a=1 --set b=2`) skips the
 * tuning and only scores that variant of the shipped parameters on all files
 * and on each half (each with its own optimised threshold, so in-sample).
 * It reads labels (scorer side), never part of the detector.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { noveltyDetectorFactory } from '../../../hub/analysis/novelty-detector.js';
import { DEFAULT_NOVELTY_PARAMS, type NoveltyParams } from '../../../hub/analysis/novelty-params.js';
import { type NabFile, loadNabCorpus } from './corpus.js';
import { optimise, prepareRuns, scoreAt } from './report.js';
import { runDetector } from './run-detector.js';
import { NAB_PROFILES } from './scorer.js';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: join(import.meta.dirname, '..', '..', 'fixtures', 'nab') },
    passes: { type: 'string', default: '2' },
    set: { type: 'string', multiple: true },
    start: { type: 'string', multiple: true, default: [] },
    'folds-only': { type: 'boolean', default: false },
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
/** In-sample: the standard score at the threshold optimised on these same files. */
function score(params: NoveltyParams, files: readonly NabFile[]): number {
  return optimise(prepareRuns(runDetector(noveltyDetectorFactory(params), files)), std).score;
}

/**
 * Out of sample: `params` scored on `test` at the shipped default threshold
 * (the factory's, which follows alertScore) and at the threshold NAB's sweep
 * picks on `train`, so nothing is chosen by looking at `test`.
 */
function heldOut(
  params: NoveltyParams,
  train: readonly NabFile[],
  test: readonly NabFile[],
): { atDefault: number; atTrainThreshold: number; threshold: number } {
  const factory = noveltyDetectorFactory(params);
  const { threshold } = optimise(prepareRuns(runDetector(factory, train)), std);
  const testRuns = prepareRuns(runDetector(factory, test));
  return {
    atDefault: scoreAt(testRuns, std, factory.defaultThreshold),
    atTrainThreshold: scoreAt(testRuns, std, threshold),
    threshold,
  };
}

function parseSets(sets: readonly string[]): NoveltyParams {
  const params: Record<string, number> = { ...DEFAULT_NOVELTY_PARAMS };
  for (const kv of sets) {
    const [k, v] = kv.split('=');
    if (!k || v === undefined || !(k in params)) throw new Error(`unknown parameter in --set/--start ${kv}`);
    params[k] = Number(v);
  }
  return params as unknown as NoveltyParams;
}

const start = parseSets(args.start!);

function tune(files: readonly NabFile[], label: string): NoveltyParams {
  let best: NoveltyParams = { ...start };
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
    .filter((k) => p[k] !== start[k])
    .map((k) => `${k}=${p[k]}`)
    .join(' ') || '(start)';

const files = loadNabCorpus(args.data!);
const folds: [NabFile[], NabFile[]] = [[], []];
const seen = new Map<string, number>();
for (const f of [...files].sort((a, b) => (a.key < b.key ? -1 : 1))) {
  const i = seen.get(f.category) ?? 0;
  seen.set(f.category, i + 1);
  folds[i % 2]!.push(f);
}
if (args.set) {
  const p = parseSets(args.set);
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
  const f = (r: ReturnType<typeof heldOut>): string =>
    `${r.atDefault.toFixed(2)} at the default threshold, ${r.atTrainThreshold.toFixed(2)} at the training half's ${r.threshold.toFixed(4)}`;
  out(
    `fold ${k}: tuned ${diff(tuned)}; training half ${score(start, train).toFixed(2)} -> ${score(tuned, train).toFixed(2)}`,
  );
  out(`fold ${k}: held-out half ${1 - k}, start: ${f(heldOut(start, train, test))}`);
  out(`fold ${k}: held-out half ${1 - k}, tuned: ${f(heldOut(tuned, train, test))}`);
}
if (!args['folds-only']) {
  const all = tune(files, 'all');
  out(`all files: tuned ${diff(all)}; score ${score(all, files).toFixed(2)}`);
}
