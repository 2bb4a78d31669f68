import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../errors.js';
import { defaultGpuConfig, parseGpuConfig } from './config.js';

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

  it('derives the hang deadline from the sample interval', () => {
    expect(parseGpuConfig({ sampleIntervalMs: 10_000 }).hangTimeoutMs).toBe(12_500);
    expect(parseGpuConfig({ sampleIntervalMs: 200 }).hangTimeoutMs).toBe(450);
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
