import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseIpLinkJson } from './ip-link.js';

const fixtures = join(import.meta.dirname, '../../../test/fixtures/sriov/ip');

describe('parseIpLinkJson', () => {
  it('reads every VF of the recorded Intel PF with its config and counters', () => {
    const vfs = parseIpLinkJson(readFileSync(join(fixtures, 'link-ens2f0.json'), 'utf8'), 'ens2f0');
    expect(vfs).toHaveLength(16);
    expect(vfs[0]).toEqual({
      index: 0,
      mac: '92:be:3c:24:4a:7d',
      spoofCheck: true,
      trust: false,
      linkState: 'auto',
      counters: {
        rxBytes: 519160,
        rxPackets: 6565,
        rxMulticast: 0,
        rxBroadcast: 6565,
        rxDropped: 0,
        txBytes: 0,
        txPackets: 0,
        txDropped: 0,
      },
    });
    expect(vfs[13]?.counters?.rxBytes).toBe(346336);
  });

  it('reads VFs without stats (ip link show without -s) and leaves counters absent', () => {
    const vfs = parseIpLinkJson(readFileSync(join(fixtures, 'link-eno3.json'), 'utf8'), 'eno3');
    expect(vfs.map((v) => v.mac)).toHaveLength(7);
    expect(vfs[6]).toEqual({
      index: 6,
      mac: '6a:10:12:1c:e7:da',
      spoofCheck: true,
      trust: false,
      linkState: 'auto',
    });
  });

  it('accepts the vlan_list form and plain tx bytes/packets keys', () => {
    const doc = [
      {
        ifname: 'p0',
        vfinfo_list: [
          { vf: 2, vlan_list: [{ vlan: 100, qos: 3 }], stats: { rx: {}, tx: { bytes: 10, packets: 1 } } },
        ],
      },
    ];
    expect(parseIpLinkJson(JSON.stringify(doc), 'p0')).toEqual([
      { index: 2, vlan: 100, qos: 3, counters: { txBytes: 10, txPackets: 1 } },
    ]);
  });

  it('returns no VFs for a PF without vfinfo_list', () => {
    expect(parseIpLinkJson('[{"ifname":"lo"}]', 'lo')).toEqual([]);
  });

  it('rejects output that is not what ip -j prints, naming the PF', () => {
    expect(() => parseIpLinkJson('Device "x" does not exist.', 'x')).toThrow(
      /ip link output for x is not JSON/,
    );
    expect(() => parseIpLinkJson('{"ifname":"x"}', 'x')).toThrow(/not a JSON array/);
    expect(() => parseIpLinkJson('[]', 'x')).toThrow(/no link object/);
    expect(() => parseIpLinkJson('[{"ifname":"x","vfinfo_list":{}}]', 'x')).toThrow(
      /vfinfo_list is not an array/,
    );
  });

  it('drops negative, non-numeric and non-finite counters instead of passing them on', () => {
    const doc = [
      {
        ifname: 'p',
        vfinfo_list: [
          { vf: 0, stats: { rx: { bytes: -1, packets: '5' }, tx: { tx_bytes: 7 } } },
          { novf: 1 },
        ],
      },
    ];
    expect(parseIpLinkJson(JSON.stringify(doc), 'p')).toEqual([{ index: 0, counters: { txBytes: 7 } }]);
  });
});
