import type { CollectorFactory } from './collector.js';
import { gpuCollectorFactory } from './gpu/index.js';
import { hostCollectorFactory } from './host/index.js';
import { ptpCollectorFactory } from './ptp/index.js';
import { sriovCollectorFactory } from './sriov/index.js';

/**
 * Every collector the agent knows, by source name. To wire a new source,
 * import its factory and append it to this array: nothing else changes
 * (config keys, the scheduler, the debug command and /metrics pick it up).
 */
export const collectorFactories: readonly CollectorFactory<unknown>[] = [
  hostCollectorFactory,
  ptpCollectorFactory,
  sriovCollectorFactory,
  gpuCollectorFactory,
];

/** Look a factory up by name in `factories` (the registry by default). */
export function findCollectorFactory(
  name: string,
  factories: readonly CollectorFactory<unknown>[] = collectorFactories,
): CollectorFactory<unknown> | undefined {
  return factories.find((f) => f.name === name);
}
