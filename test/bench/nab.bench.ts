/**
 * NAB benchmark (`npm run bench:nab [-- --out DIR]`): runs the hub's anomaly
 * detector over the Numenta Anomaly Benchmark corpus in test/fixtures/nab,
 * writes NAB-layout result files, scores them with our own NAB scorer and
 * times the detector alone. A Gaussian baseline is scored and timed in the
 * same run. Method and results: docs/performance.md, docs/anomaly-detection.md.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { noveltyDetectorFactory } from '../../hub/analysis/novelty-detector.js';
import type { DetectorFactory } from '../../hub/analysis/detector.js';
import { loadNabCorpus } from './nab/corpus.js';
import { gaussianBaselineFactory } from './nab/gaussian-baseline.js';
import { byCategory, optimise, prepareRuns, scoreAt } from './nab/report.js';
import { runDetector, timeDetector, writeNabResults } from './nab/run-detector.js';
import { NAB_PROFILES } from './nab/scorer.js';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string' },
    data: { type: 'string', default: join(import.meta.dirname, '..', 'fixtures', 'nab') },
    repeats: { type: 'string', default: '3' },
  },
});
const outDir = args.out ?? mkdtempSync(join(tmpdir(), 'nab-results-'));
const repeats = Number(args.repeats);

const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : String(n));
const out = (line: string): void => void process.stdout.write(`${line}\n`);

const files = loadNabCorpus(args.data!);
const rows = files.reduce((a, f) => a + f.rows, 0);
const windows = files.reduce((a, f) => a + f.windows.length, 0);
out(`NAB corpus: ${files.length} files, ${rows} rows, ${windows} windows (${args.data})`);

function evaluate(factory: DetectorFactory, writeResults: boolean) {
  const runs = prepareRuns(runDetector(factory, files));
  if (writeResults) writeNabResults(outDir, factory.name, runs);
  const [standard, lowFp, lowFn] = NAB_PROFILES.map((p) => optimise(runs, p)) as [
    ReturnType<typeof optimise>,
    ReturnType<typeof optimise>,
    ReturnType<typeof optimise>,
  ];
  const atDefault = scoreAt(runs, NAB_PROFILES[0]!, factory.defaultThreshold);
  const usPerObs = timeDetector(factory, files, repeats);
  const bytes = Math.max(...runs.map((r) => r.stateBytes));
  return { factory, runs, standard, lowFp, lowFn, atDefault, usPerObs, bytes };
}

const ours = evaluate(noveltyDetectorFactory(), true);
// The same detector told nothing about each file's range (as for a live
// series whose range is not configured): NAB allows the hint, production may lack it.
const blindFactory = noveltyDetectorFactory();
const blind = evaluate(
  { ...blindFactory, name: `${blindFactory.name}(no range)`, create: () => blindFactory.create() },
  false,
);
// Timed last: once a second class has passed through the timing loop its call
// site is polymorphic, which would slow whatever is timed after it.
const base = evaluate(gaussianBaselineFactory, false);

out(`results written to ${outDir}/<category>/${ours.factory.name}_<file>.csv`);
out('');
out(
  'detector                 standard (thr)        low_FP (thr)          low_FN (thr)          std@default (thr)   us/obs  bytes',
);
for (const r of [ours, blind, base]) {
  out(
    [
      r.factory.name.padEnd(24),
      `${fmt(r.standard.score)} (${fmt(r.standard.threshold, 4)})`.padEnd(21),
      `${fmt(r.lowFp.score)} (${fmt(r.lowFp.threshold, 4)})`.padEnd(21),
      `${fmt(r.lowFn.score)} (${fmt(r.lowFn.threshold, 4)})`.padEnd(21),
      `${fmt(r.atDefault)} (${r.factory.defaultThreshold})`.padEnd(19),
      fmt(r.usPerObs, 3).padStart(6),
      String(r.bytes).padStart(6),
    ].join(' '),
  );
}
out(
  `cost ratio ${ours.factory.name}/${base.factory.name}: ${fmt(ours.usPerObs / base.usPerObs)}x per observation`,
);
out('');
out(
  `per category, ${ours.factory.name}, standard profile at the corpus-optimised threshold ${fmt(ours.standard.threshold, 4)}:`,
);
out('category                files windows  TP  FN   FP      raw  score');
for (const c of byCategory(ours.runs, NAB_PROFILES[0]!, ours.standard.threshold)) {
  out(
    `${c.category.padEnd(23)} ${String(c.files).padStart(5)} ${String(c.windows).padStart(7)} ${String(c.tp).padStart(3)} ${String(c.fn).padStart(3)} ${String(c.fp).padStart(4)} ${fmt(c.raw).padStart(8)} ${(Number.isNaN(c.score) ? 'n/a' : fmt(c.score, 1)).padStart(6)}`,
  );
}
out('');
out(
  `bench:nab score_standard=${fmt(ours.standard.score)} score_low_fp=${fmt(ours.lowFp.score)} score_low_fn=${fmt(ours.lowFn.score)} score_default_threshold=${fmt(ours.atDefault)} us_per_obs=${fmt(ours.usPerObs, 3)} bytes_per_series=${ours.bytes}`,
);
