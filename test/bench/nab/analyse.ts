/**
 * Analysis aid for tuning the detector (`npx tsx test/bench/nab/analyse.ts
 * [--set name=value]... [--windows] [--fps N]`, one `--set` per parameter):
 * runs the detector over the NAB corpus, quality only (no timing), and
 * prints the standard score at the corpus-optimised and default thresholds,
 * per-category figures and, on request, every label window with the best
 * score the detector gave inside it (where, relative to the window) and the
 * costliest false positives.
 * `--sweep` prints the three profiles at fixed thresholds, once over the
 * one score stream and once with the detector's alert level (alertScore,
 * which starts its quiet period) set to each threshold, as an operator
 * alerting at that level would run it.
 * It reads labels, which is fine here: it is part of the scorer's side, never
 * of the detector.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { noveltyDetectorFactory } from '../../../hub/analysis/novelty-detector.js';
import { DEFAULT_NOVELTY_PARAMS, type NoveltyParams } from '../../../hub/analysis/novelty-params.js';
import { loadNabCorpus } from './corpus.js';
import { byCategory, optimise, prepareRuns, scoreAt } from './report.js';
import { runDetector } from './run-detector.js';
import { NAB_PROFILES, probationRows } from './scorer.js';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: join(import.meta.dirname, '..', '..', 'fixtures', 'nab') },
    set: { type: 'string', multiple: true, default: [] },
    windows: { type: 'boolean', default: false },
    fps: { type: 'string', default: '0' },
    sweep: { type: 'boolean', default: false },
  },
});
const out = (line: string): void => void process.stdout.write(`${line}\n`);

const params: Record<string, number> = { ...DEFAULT_NOVELTY_PARAMS };
for (const kv of args.set!) {
  const [k, v] = kv.split('=');
  if (!k || v === undefined || !(k in params)) throw new Error(`unknown parameter in --set ${kv}`);
  params[k] = Number(v);
}
const factory = noveltyDetectorFactory(params as unknown as NoveltyParams);
const files = loadNabCorpus(args.data!);
const runs = prepareRuns(runDetector(factory, files));
const std = NAB_PROFILES[0]!;
const [s, lfp, lfn] = NAB_PROFILES.map((p) => optimise(runs, p));
out(
  `standard=${s!.score.toFixed(2)} (thr ${s!.threshold.toFixed(4)}) lowFP=${lfp!.score.toFixed(2)} lowFN=${lfn!.score.toFixed(2)} @default=${scoreAt(runs, std, factory.defaultThreshold).toFixed(2)}`,
);
for (const c of byCategory(runs, std, s!.threshold))
  out(
    `  ${c.category.padEnd(22)} tp ${c.tp} fn ${c.fn} fp ${c.fp} raw ${c.raw.toFixed(2)} score ${c.score.toFixed(1)}`,
  );

if (args.windows) {
  out('\nwindows (best score inside, at relative position 0=left edge 1=right edge; * = missed):');
  for (const r of runs) {
    const start = probationRows(r.file.rows);
    r.file.windows.forEach(([a, b]) => {
      let best = 0;
      let at = -1;
      let first = -1;
      for (let i = Math.max(a, start); i <= b; i++) {
        if (r.scores[i]! > best) {
          best = r.scores[i]!;
          at = i;
        }
        if (first < 0 && r.scores[i]! >= s!.threshold) first = i;
      }
      const rel = (i: number): string => (i < 0 ? '  -  ' : ((i - a) / (b - a)).toFixed(2));
      out(
        `${first < 0 ? '*' : ' '} ${r.file.key.padEnd(58)} [${a},${b}] best ${best.toFixed(3)} @${rel(at)} first-hit @${rel(first)}`,
      );
    });
  }
}

const nFp = Number(args.fps);
if (nFp > 0) {
  const fps: Array<{ key: string; row: number; cost: number; score: number }> = [];
  for (const r of runs) {
    const p = r.prepared;
    for (let i = p.firstScoredRow; i < r.file.rows; i++) {
      if (r.scores[i]! >= s!.threshold && p.windowOfRow[i]! < 0)
        fps.push({ key: r.file.key, row: i, cost: -std.fpWeight * p.unitValue[i]!, score: r.scores[i]! });
    }
  }
  const perFile = new Map<string, { n: number; cost: number }>();
  for (const f of fps) {
    const e = perFile.get(f.key) ?? { n: 0, cost: 0 };
    e.n++;
    e.cost += f.cost;
    perFile.set(f.key, e);
  }
  out(
    `\nfalse positives: ${fps.length}, cost ${fps.reduce((a, f) => a + f.cost, 0).toFixed(2)} raw; by file:`,
  );
  for (const [k, e] of [...perFile].sort((a, b) => b[1].cost - a[1].cost).slice(0, nFp))
    out(`  ${k.padEnd(58)} ${String(e.n).padStart(3)} cost ${e.cost.toFixed(2)}`);
}

if (args.sweep) {
  out('\nthreshold  standard/lowFP/lowFN (one stream)  (alert level = threshold)');
  for (const t of [0.9, 0.93, 0.94, 0.95, 0.955, 0.96, 0.965, 0.97, 0.98, 0.99]) {
    const fixed = NAB_PROFILES.map((p) => scoreAt(runs, p, t).toFixed(1)).join(' / ');
    const atLevel = prepareRuns(
      runDetector(noveltyDetectorFactory({ ...(params as unknown as NoveltyParams), alertScore: t }), files),
    );
    const matched = NAB_PROFILES.map((p) => scoreAt(atLevel, p, t).toFixed(1)).join(' / ');
    out(`${t.toFixed(3).padEnd(10)} ${fixed.padEnd(34)} ${matched}`);
  }
}
