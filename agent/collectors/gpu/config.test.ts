import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../errors.js';
import { defaultGpuConfig, defaultHangMarginMs, defaultHangTimeoutMs, parseGpuConfig } from './config.js';

describe('GPU collector config', () => {
  it('defaults to the fixed nvidia-smi path, the DCGM port and the kubelet socket', () => {
    expect(parseGpuConfig(undefined)).toEqual(defaultGpuConfig());
    expect(defaultGpuConfig()).toMatchObject({
      nvidiaSmiPath: '/usr/bin/nvidia-smi',
      dcgmUrl: 'http://127.0.0.1:9400/metrics',
      podResourcesSocket: '/var/lib/kubelet/pod-resources/kubelet.sock',
      kmsgPath: '/dev/kmsg',
    });
  });

  it('derives the adaptive deadline margin from the sample interval: a fifth of it, at least 200 ms', () => {
    expect(defaultGpuConfig().hangMarginMs).toBe(defaultHangMarginMs(defaultGpuConfig().sampleIntervalMs));
    expect(defaultGpuConfig().hangMarginMs).toBe(200);
    expect(parseGpuConfig({ sampleIntervalMs: 200 }).hangMarginMs).toBe(200);
    expect(parseGpuConfig({ sampleIntervalMs: 10_000 }).hangMarginMs).toBe(2_000);
    expect(parseGpuConfig({ sampleIntervalMs: 10_000, hangMarginMs: 300 }).hangMarginMs).toBe(300);
    expect(() => parseGpuConfig({ hangMarginMs: -1 })).toThrow(/hangMarginMs: must be an integer/);
  });

  it('derives the longest hang deadline from the sample interval: one interval of slack, clamped to 2–30 s', () => {
    expect(defaultGpuConfig().hangTimeoutMs).toBe(defaultHangTimeoutMs(defaultGpuConfig().sampleIntervalMs));
    expect(defaultGpuConfig().hangTimeoutMs).toBe(3_000);
    // Short intervals: 2 s of slack, so one slow query (8 GPUs, persistence off) is no hang.
    expect(parseGpuConfig({ sampleIntervalMs: 200 }).hangTimeoutMs).toBe(2_200);
    expect(parseGpuConfig({ sampleIntervalMs: 1_000 }).hangTimeoutMs).toBe(3_000);
    // 2–30 s: two intervals.
    expect(parseGpuConfig({ sampleIntervalMs: 10_000 }).hangTimeoutMs).toBe(20_000);
    // Long intervals: at most 30 s of slack.
    expect(parseGpuConfig({ sampleIntervalMs: 300_000 }).hangTimeoutMs).toBe(330_000);
    // An explicit value wins.
    expect(parseGpuConfig({ sampleIntervalMs: 200, hangTimeoutMs: 500 }).hangTimeoutMs).toBe(500);
  });

  it('refuses a longest hang deadline of one interval or less: every cycle would be a hang', () => {
    expect(() => parseGpuConfig({ sampleIntervalMs: 1_000, hangTimeoutMs: 1_000 })).toThrow(
      /hangTimeoutMs: must be more than sampleIntervalMs \(1000\)/,
    );
    expect(() => parseGpuConfig({ hangTimeoutMs: 500 })).toThrow(/hangTimeoutMs: must be more than/);
    expect(() => parseGpuConfig({ sampleIntervalMs: 5_000, hangTimeoutMs: 3_000 })).toThrow(
      /hangTimeoutMs: must be more than sampleIntervalMs \(5000\)/,
    );
    expect(parseGpuConfig({ sampleIntervalMs: 1_000, hangTimeoutMs: 1_001 }).hangTimeoutMs).toBe(1_001);
  });

  it('lists every problem at once, and refuses a PATH lookup', () => {
    try {
      parseGpuConfig({ nvidiaSmiPath: 'nvidia-smi', sampleIntervalMs: 5, dcgmUrl: 'ftp://x', bogus: 1 });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const problems = (error as ConfigError).problems;
      expect(problems).toHaveLength(4);
      expect(problems.join('\n')).toMatch(/nvidiaSmiPath: must be an absolute path/);
      expect(problems.join('\n')).toMatch(/bogus: unknown option/);
    }
  });

  it('allows disabling DCGM, kmsg and attribution with empty strings', () => {
    expect(parseGpuConfig({ dcgmUrl: '', kmsgPath: '', podResourcesSocket: '' })).toMatchObject({
      dcgmUrl: '',
      kmsgPath: '',
      podResourcesSocket: '',
    });
  });
});
