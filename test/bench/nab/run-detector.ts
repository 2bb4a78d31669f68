/**
 * Runs a detector over NAB files the way NAB does: a fresh detector per
 * file, told only the file's min and max, fed rows one at a time.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { DetectorFactory } from '../../../hub/analysis/detector.js';
import type { NabFile } from './corpus.js';

export interface DetectorRun {
  readonly file: NabFile;
  readonly scores: Float64Array;
  readonly stateBytes: number;
}

export function runDetector(factory: DetectorFactory, files: readonly NabFile[]): DetectorRun[] {
  return files.map((file) => {
    const detector = factory.create({ min: file.min, max: file.max });
    const scores = new Float64Array(file.rows);
    for (let i = 0; i < file.rows; i++)
      scores[i] = detector.observe(file.timestampsMs[i]!, file.values[i]!).score;
    return { file, scores, stateBytes: detector.stateBytes };
  });
}

/** Writes NAB's result layout: `<out>/<category>/<detector>_<file>.csv` with timestamp,value,anomaly_score. */
export function writeNabResults(outDir: string, detectorName: string, runs: readonly DetectorRun[]): void {
  for (const { file, scores } of runs) {
    const dir = join(outDir, file.category);
    mkdirSync(dir, { recursive: true });
    const lines = ['timestamp,value,anomaly_score'];
    for (let i = 0; i < file.rows; i++) lines.push(`${file.timestamps[i]},${file.values[i]},${scores[i]}`);
    writeFileSync(join(dir, `${detectorName}_${basename(file.key)}`), `${lines.join('\n')}\n`);
  }
}

/**
 * Times the detector alone: fresh detectors over every file, in batches of
 * `batchRows` observations. Every batch is timed `repeats` times (each
 * repeat replays the files from a fresh detector, so a batch does the same
 * work every time) and keeps its fastest time, which filters out the
 * preemptions of a shared machine; the result is the median over batches of
 * the time per observation (µs). One untimed pass warms the JIT first.
 */
export function timeDetector(
  factory: DetectorFactory,
  files: readonly NabFile[],
  repeats: number,
  batchRows = 1000,
): number {
  const best: number[] = [];
  let sink = 0;
  for (let r = -1; r < repeats; r++) {
    let batch = 0;
    for (const file of files) {
      const detector = factory.create({ min: file.min, max: file.max });
      for (let start = 0; start < file.rows; start += batchRows, batch++) {
        const end = Math.min(file.rows, start + batchRows);
        const t0 = process.hrtime.bigint();
        for (let i = start; i < end; i++)
          sink += detector.observe(file.timestampsMs[i]!, file.values[i]!).score;
        const us = Number(process.hrtime.bigint() - t0) / 1000 / (end - start);
        if (r >= 0) best[batch] = Math.min(best[batch] ?? Infinity, us);
      }
    }
  }
  if (Number.isNaN(sink)) throw new Error('unreachable: NaN score');
  best.sort((a, b) => a - b);
  return best[Math.floor(best.length / 2)]!;
}
