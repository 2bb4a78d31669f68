/**
 * Loads the NAB corpus copied under test/fixtures/nab: every data file with
 * its label windows (converted from timestamps to row indices) and its
 * known min/max (NAB lets a detector know each file's range in advance).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { NabFileLabels } from './scorer.js';

export interface NabFile extends NabFileLabels {
  /** `<category>/<file>.csv`, as keyed in labels/combined_windows.json. */
  readonly key: string;
  readonly timestamps: readonly string[];
  readonly timestampsMs: Float64Array;
  readonly values: Float64Array;
  readonly min: number;
  readonly max: number;
}

/** NAB timestamps are `YYYY-MM-DD HH:MM:SS[.ffffff]`, in no stated zone; read them as UTC. */
function parseTimestampMs(text: string, where: string): number {
  const ms = Date.parse(`${text.slice(0, 19).replace(' ', 'T')}Z`);
  if (Number.isNaN(ms)) throw new Error(`${where}: bad timestamp ${JSON.stringify(text)}`);
  return ms;
}

function parseCsv(path: string, key: string): { timestamps: string[]; values: Float64Array } {
  const lines = readFileSync(path, 'utf8').split(/\r?\n/);
  if (lines[0]?.trim() !== 'timestamp,value') throw new Error(`${key}: expected header timestamp,value`);
  const timestamps: string[] = [];
  const values: number[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const comma = line.indexOf(',');
    const v = Number(line.slice(comma + 1));
    if (comma < 0 || !Number.isFinite(v)) throw new Error(`${key}:${i + 1}: bad row ${JSON.stringify(line)}`);
    timestamps.push(line.slice(0, comma));
    values.push(v);
  }
  return { timestamps, values: Float64Array.from(values) };
}

/** Reads the whole corpus; throws on any window timestamp that is not a row of its file. */
export function loadNabCorpus(root: string): NabFile[] {
  const windowsByKey = JSON.parse(
    readFileSync(join(root, 'labels', 'combined_windows.json'), 'utf8'),
  ) as Record<string, Array<[string, string]>>;
  const files: NabFile[] = [];
  const dataDir = join(root, 'data');
  for (const category of readdirSync(dataDir, { withFileTypes: true })) {
    if (!category.isDirectory()) continue;
    for (const name of readdirSync(join(dataDir, category.name)).sort()) {
      if (!name.endsWith('.csv')) continue;
      const key = `${category.name}/${name}`;
      const { timestamps, values } = parseCsv(join(dataDir, category.name, name), key);
      const rowOf = new Map<string, number>();
      timestamps.forEach((t, i) => rowOf.set(t.slice(0, 19), i));
      const rawWindows = windowsByKey[key];
      if (!rawWindows) throw new Error(`${key}: no entry in combined_windows.json`);
      const windows = rawWindows.map(([a, b]): [number, number] => {
        const l = rowOf.get(a.slice(0, 19));
        const r = rowOf.get(b.slice(0, 19));
        if (l === undefined || r === undefined) throw new Error(`${key}: window [${a}, ${b}] is not on rows`);
        return [l, r];
      });
      let min = Infinity;
      let max = -Infinity;
      for (const v of values) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      files.push({
        key,
        name: key,
        category: category.name,
        rows: values.length,
        windows,
        timestamps,
        timestampsMs: Float64Array.from(timestamps, (t) => parseTimestampMs(t, key)),
        values,
        min,
        max,
      });
    }
  }
  files.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return files;
}
