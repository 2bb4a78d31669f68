import type { CollectorFactory } from '../collector.js';
import { defaultSriovConfig, parseSriovConfig, type SriovCollectorConfig } from './config.js';
import { SriovCollector, type SriovCollectorDeps } from './sriov-collector.js';

export type { SriovCollectorConfig } from './config.js';
export { SriovCollector, type SriovCollectorDeps } from './sriov-collector.js';

/**
 * The SR-IOV source's factory. `create` accepts the plain CollectorDeps; a
 * caller that already holds a PodResourcesClient (shared with the GPU
 * collector) passes it as `deps.podResources`, else the collector opens its
 * own on `podResourcesSocket`.
 */
export const sriovCollectorFactory: CollectorFactory<SriovCollectorConfig> = {
  name: 'sriov',
  defaultConfig: defaultSriovConfig,
  parseConfig: parseSriovConfig,
  create: (config, deps) => new SriovCollector(config, deps as SriovCollectorDeps),
};
