import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../errors.js';
import { defaultPtpConfig, parsePtpConfig } from './config.js';

describe('parsePtpConfig', () => {
  it('defaults to OpenShift-compatible thresholds and the standard pmc and socket paths', () => {
    expect(parsePtpConfig(undefined)).toEqual(defaultPtpConfig());
    expect(defaultPtpConfig()).toMatchObject({
      pmcPath: '/usr/sbin/pmc',
      maxOffsetThresholdNs: 100,
      minOffsetThresholdNs: -100,
      holdoverTimeoutMs: 5000,
    });
  });

  it('accepts a full valid config', () => {
    const cfg = parsePtpConfig({
      pmcPath: '/usr/bin/pmc',
      sockets: ['/var/run/ptp4l.*.socket'],
      logFiles: [{ path: '/var/log/ptp4l.log', name: 'ptp4l.0' }],
      holdoverTimeoutMs: 0,
    });
    expect(cfg.logFiles).toEqual([{ path: '/var/log/ptp4l.log', name: 'ptp4l.0' }]);
    expect(cfg.holdoverTimeoutMs).toBe(0);
  });

  it('lists every problem at once', () => {
    let error: unknown;
    try {
      parsePtpConfig({
        pmcPath: 'pmc',
        sockets: ['relative/sock'],
        logFiles: [{ name: 'x' }],
        pmcRetries: -1,
        maxOffsetThresholdNs: -200,
        bogus: 1,
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'collectors.ptp.bogus: unknown option',
      'collectors.ptp.pmcPath: must be an absolute path',
      'collectors.ptp.sockets: must be a list of absolute paths',
      'collectors.ptp.logFiles: must be a list of { path: absolute path, name?: string }',
      'collectors.ptp.pmcRetries: must be an integer >= 0',
      'collectors.ptp.minOffsetThresholdNs: must not exceed maxOffsetThresholdNs',
    ]);
  });

  it('rejects a non-object', () => {
    expect(() => parsePtpConfig([1])).toThrow(/collectors.ptp: must be an object/);
  });
});
