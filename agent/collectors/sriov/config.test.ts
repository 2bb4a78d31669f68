import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../errors.js';
import { defaultSriovConfig, parseSriovConfig } from './config.js';

describe('parseSriovConfig', () => {
  it('defaults to the host sysfs, the fixed ip path and the kubelet PodResources socket', () => {
    expect(parseSriovConfig(undefined)).toEqual(defaultSriovConfig());
    expect(defaultSriovConfig()).toMatchObject({
      sysfsRoot: '/sys',
      ipPath: '/usr/sbin/ip',
      podResourcesSocket: '/var/lib/kubelet/pod-resources/kubelet.sock',
    });
  });

  it("accepts '' to disable pod attribution and a PF filter", () => {
    expect(parseSriovConfig({ podResourcesSocket: '', pfs: ['ens2f0'] })).toMatchObject({
      podResourcesSocket: '',
      pfs: ['ens2f0'],
    });
  });

  it('lists every problem at once', () => {
    let error: unknown;
    try {
      parseSriovConfig({
        sysfsRoot: 'sys',
        ipPath: 3,
        pfs: [''],
        ipTimeoutMs: 5,
        dropRateJumpFactor: 0.5,
        x: 1,
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'collectors.sriov.x: unknown option',
      'collectors.sriov.sysfsRoot: must be an absolute path',
      'collectors.sriov.ipPath: must be an absolute path',
      'collectors.sriov.ipTimeoutMs: must be an integer >= 100',
      'collectors.sriov.pfs: must be a list of interface names or PCI addresses',
      'collectors.sriov.dropRateJumpFactor: must be a number >= 1',
    ]);
  });
});
