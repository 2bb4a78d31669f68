import type { CollectorFactory } from '../collector.js';
import { defaultHostConfig, parseHostConfig, type HostCollectorConfig } from './config.js';
import { HostCollector } from './host-collector.js';

export type { HostCollectorConfig } from './config.js';
export { HostCollector } from './host-collector.js';

/** The host source's factory, listed in agent/collectors/registry.ts. */
export const hostCollectorFactory: CollectorFactory<HostCollectorConfig> = {
  name: 'host',
  defaultConfig: defaultHostConfig,
  parseConfig: parseHostConfig,
  create: (config, deps) => new HostCollector(config, deps),
};
