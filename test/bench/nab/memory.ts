/**
 * In-memory size of one novelty detector (`node --expose-gc --import tsx
 * test/bench/nab/memory.ts [--count N]`): the growth of V8's heap plus
 * ArrayBuffer memory (process.memoryUsage(), after a full GC before and
 * after) while N detectors are alive and have each observed a few rows,
 * divided by N. This counts everything a detector holds (its objects, typed
 * array views and the state buffer) beyond the serialised state that
 * `stateBytes` reports.
 */
import { parseArgs } from 'node:util';
import { noveltyDetectorFactory } from '../../../hub/analysis/novelty-detector.js';
import type { Detector } from '../../../hub/analysis/detector.js';

const { values: args } = parseArgs({ options: { count: { type: 'string', default: '20000' } } });
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const count = Number(args.count);
const factory = noveltyDetectorFactory();
const used = (): number => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

// One detector first, so code and module state are not counted per detector.
factory.create().observe(0, 1);
const before = used();
const alive: Detector[] = [];
for (let i = 0; i < count; i++) {
  const d = factory.create({ min: 0, max: 1 });
  for (let r = 0; r < 30; r++) d.observe(r * 60_000, ((r * 7919 + i) % 100) / 100);
  alive.push(d);
}
const after = used();
process.stdout.write(
  `detectors=${count} bytes_per_detector=${Math.round((after - before) / count)} state_bytes=${alive[0]!.stateBytes}\n`,
);
