import type { CollectorFactory } from '../collector.js';
import { defaultPtpConfig, parsePtpConfig, type PtpCollectorConfig } from './config.js';
import { PtpCollector } from './ptp-collector.js';

export type { PtpCollectorConfig, PtpLogFile } from './config.js';
export { PtpCollector } from './ptp-collector.js';

/** The PTP source's factory (linuxptp through pmc and its logs). */
export const ptpCollectorFactory: CollectorFactory<PtpCollectorConfig> = {
  name: 'ptp',
  defaultConfig: defaultPtpConfig,
  parseConfig: parsePtpConfig,
  create: (config, deps) => new PtpCollector(config, deps),
};
