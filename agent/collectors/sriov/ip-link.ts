import { execFile } from 'node:child_process';

/**
 * Per-VF configuration and counters from netlink (IFLA_VF_INFO / IFLA_VF_STATS)
 * as iproute2 prints them with `ip -j -s -d link show dev <pf>`: each VF is an
 * entry of the PF's `vfinfo_list`, e.g.
 *
 *     { "vf": 0, "link_type": "ether", "address": "92:be:3c:24:4a:7d", "spoofchk": true,
 *       "link_state": "auto", "trust": false,
 *       "stats": { "rx": { "bytes": 519160, "packets": 6565, "multicast": 0, "broadcast": 6565, "dropped": 0 },
 *                  "tx": { "tx_bytes": 0, "tx_packets": 0, "dropped": 0 } } }
 *
 * iproute2 names the tx counters `tx_bytes` / `tx_packets` (print_vf_stats64);
 * plain `bytes` / `packets` are accepted too. `vlan`, `qos`, `trust`,
 * `spoofchk`, `link_state` and the dropped counters appear only when the
 * driver reports them.
 */
export interface VfCounters {
  readonly rxBytes?: number;
  readonly rxPackets?: number;
  readonly rxMulticast?: number;
  readonly rxBroadcast?: number;
  readonly rxDropped?: number;
  readonly txBytes?: number;
  readonly txPackets?: number;
  readonly txDropped?: number;
}

export interface VfLinkInfo {
  readonly index: number;
  readonly mac?: string;
  readonly vlan?: number;
  readonly qos?: number;
  readonly spoofCheck?: boolean;
  readonly trust?: boolean;
  /** `auto`, `enable` or `disable`: the administrative link state the PF forces on the VF. */
  readonly linkState?: string;
  readonly counters?: VfCounters;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (o: Json | undefined, ...keys: string[]): number | undefined => {
  for (const key of keys) {
    const v = o?.[key];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  }
  return undefined;
};
const compact = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/** Parses the JSON of `ip -j -s -d link show dev <pf>`; throws a clear Error on anything else. */
export function parseIpLinkJson(stdout: string, pf: string): VfLinkInfo[] {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch (err) {
    throw new Error(`ip link output for ${pf} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!Array.isArray(doc)) throw new Error(`ip link output for ${pf} is not a JSON array`);
  const link = doc.find((l: unknown) => isObject(l) && l.ifname === pf) ?? doc[0];
  if (!isObject(link)) throw new Error(`ip link output for ${pf} has no link object`);
  const list = link.vfinfo_list;
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new Error(`ip link output for ${pf}: vfinfo_list is not an array`);
  const vfs: VfLinkInfo[] = [];
  for (const entry of list) {
    if (!isObject(entry) || typeof entry.vf !== 'number') continue;
    const stats = isObject(entry.stats) ? entry.stats : undefined;
    const rx = isObject(stats?.rx) ? stats.rx : undefined;
    const tx = isObject(stats?.tx) ? stats.tx : undefined;
    const counters = stats
      ? compact<VfCounters>({
          rxBytes: num(rx, 'bytes'),
          rxPackets: num(rx, 'packets'),
          rxMulticast: num(rx, 'multicast'),
          rxBroadcast: num(rx, 'broadcast'),
          rxDropped: num(rx, 'dropped'),
          txBytes: num(tx, 'tx_bytes', 'bytes'),
          txPackets: num(tx, 'tx_packets', 'packets'),
          txDropped: num(tx, 'dropped'),
        })
      : undefined;
    const vlanList =
      Array.isArray(entry.vlan_list) && isObject(entry.vlan_list[0]) ? entry.vlan_list[0] : undefined;
    vfs.push(
      compact<VfLinkInfo>({
        index: entry.vf,
        mac:
          typeof entry.address === 'string'
            ? entry.address
            : typeof entry.mac === 'string'
              ? entry.mac
              : undefined,
        vlan: num(entry, 'vlan') ?? num(vlanList, 'vlan'),
        qos: num(entry, 'qos') ?? num(vlanList, 'qos'),
        spoofCheck: typeof entry.spoofchk === 'boolean' ? entry.spoofchk : undefined,
        trust: typeof entry.trust === 'boolean' ? entry.trust : undefined,
        linkState: typeof entry.link_state === 'string' ? entry.link_state : undefined,
        counters,
      }),
    );
  }
  return vfs;
}

/** Runs `<ipPath> -j -s -d link show dev <pf>` directly (no shell) and parses it. */
export function readVfLinks(
  ipPath: string,
  pf: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<VfLinkInfo[]> {
  return new Promise((resolve, reject) => {
    execFile(
      ipPath,
      ['-j', '-s', '-d', 'link', 'show', 'dev', pf],
      { timeout: timeoutMs, signal, maxBuffer: 8 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error) {
          reject(
            new Error(`ip link show dev ${pf} failed: ${stderr.trim() || error.message}`, { cause: error }),
          );
          return;
        }
        try {
          resolve(parseIpLinkJson(stdout, pf));
        } catch (err) {
          reject(err as Error);
        }
      },
    );
  });
}
