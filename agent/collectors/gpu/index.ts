import type { CollectorFactory } from '../collector.js';
import { defaultGpuConfig, parseGpuConfig, type GpuCollectorConfig } from './config.js';
import { GpuCollector } from './gpu-collector.js';

export type { GpuCollectorConfig } from './config.js';
export { GpuCollector } from './gpu-collector.js';

/** The GPU source's factory, listed in agent/collectors/registry.ts. */
export const gpuCollectorFactory: CollectorFactory<GpuCollectorConfig> = {
  name: 'gpu',
  defaultConfig: defaultGpuConfig,
  parseConfig: parseGpuConfig,
  create: (config, deps) => new GpuCollector(config, deps),
};
