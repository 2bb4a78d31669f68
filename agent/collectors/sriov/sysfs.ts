import { readdir, readFile, readlink } from 'node:fs/promises';
import { basename, join } from 'node:path';

/**
 * SR-IOV inventory from sysfs under a configurable root (the host's /sys, or a
 * recorded tree in tests). A PF is any PCI device with `sriov_totalvfs` or
 * `sriov_numvfs`; its VFs are the `virtfnN` links. Every value is optional:
 * a file that is missing or unreadable is reported absent, never guessed.
 */
export interface NetdevInfo {
  readonly name: string;
  readonly mtuBytes?: number;
  /** Link speed in Mb/s as sysfs prints it; absent when unknown (-1 or link down). */
  readonly speedMbps?: number;
  readonly operstate?: string;
  readonly address?: string;
}

export interface VfSysfsInfo {
  readonly index: number;
  readonly pciAddress: string;
  readonly driver?: string;
  readonly netdevs: readonly NetdevInfo[];
}

export interface PfSysfsInfo {
  readonly pciAddress: string;
  readonly driver?: string;
  readonly vendor?: string;
  readonly device?: string;
  readonly numaNode?: number;
  readonly totalVfs?: number;
  readonly numVfs?: number;
  readonly netdevs: readonly NetdevInfo[];
  readonly vfs: readonly VfSysfsInfo[];
  /** Driver-specific per-VF counters (Intel out-of-tree drivers: `sriov/<vf>/stats/<name>`), by VF index. */
  readonly vfDriverStats: ReadonlyMap<number, Readonly<Record<string, number>>>;
}

async function text(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

async function int(path: string): Promise<number | undefined> {
  const raw = await text(path);
  if (raw === undefined || !/^-?\d+$/.test(raw)) return undefined;
  return Number(raw);
}

async function linkName(path: string): Promise<string | undefined> {
  try {
    return basename(await readlink(path));
  } catch {
    return undefined;
  }
}

async function list(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch {
    return [];
  }
}

async function netdevs(deviceDir: string): Promise<NetdevInfo[]> {
  const out: NetdevInfo[] = [];
  for (const name of await list(join(deviceDir, 'net'))) {
    const dir = join(deviceDir, 'net', name);
    const speed = await int(join(dir, 'speed'));
    const mtuBytes = await int(join(dir, 'mtu'));
    const operstate = await text(join(dir, 'operstate'));
    const address = await text(join(dir, 'address'));
    out.push({
      name,
      ...(mtuBytes !== undefined ? { mtuBytes } : {}),
      ...(speed !== undefined && speed >= 0 ? { speedMbps: speed } : {}),
      ...(operstate !== undefined ? { operstate } : {}),
      ...(address !== undefined ? { address } : {}),
    });
  }
  return out;
}

async function driverStats(pfDir: string): Promise<Map<number, Record<string, number>>> {
  const stats = new Map<number, Record<string, number>>();
  for (const entry of await list(join(pfDir, 'sriov'))) {
    if (!/^\d+$/.test(entry)) continue;
    const dir = join(pfDir, 'sriov', entry, 'stats');
    const values: Record<string, number> = {};
    for (const name of await list(dir)) {
      const value = await int(join(dir, name));
      if (value !== undefined && value >= 0) values[name] = value;
    }
    if (Object.keys(values).length > 0) stats.set(Number(entry), values);
  }
  return stats;
}

/** Every SR-IOV capable PF under `<sysfsRoot>/bus/pci/devices`, sorted by PCI address. */
export async function readSriovSysfs(sysfsRoot: string): Promise<PfSysfsInfo[]> {
  const devicesDir = join(sysfsRoot, 'bus', 'pci', 'devices');
  const pfs: PfSysfsInfo[] = [];
  for (const pciAddress of await list(devicesDir)) {
    const dir = join(devicesDir, pciAddress);
    const totalVfs = await int(join(dir, 'sriov_totalvfs'));
    const numVfs = await int(join(dir, 'sriov_numvfs'));
    if (totalVfs === undefined && numVfs === undefined) continue;
    const vfs: VfSysfsInfo[] = [];
    for (const entry of await list(dir)) {
      const m = /^virtfn(\d+)$/.exec(entry);
      if (!m) continue;
      const vfAddress = await linkName(join(dir, entry));
      if (!vfAddress) continue;
      const vfDir = join(devicesDir, vfAddress);
      const driver = await linkName(join(vfDir, 'driver'));
      vfs.push({
        index: Number(m[1]),
        pciAddress: vfAddress,
        ...(driver ? { driver } : {}),
        netdevs: await netdevs(vfDir),
      });
    }
    vfs.sort((a, b) => a.index - b.index);
    const driver = await linkName(join(dir, 'driver'));
    const vendor = await text(join(dir, 'vendor'));
    const device = await text(join(dir, 'device'));
    const numaNode = await int(join(dir, 'numa_node'));
    pfs.push({
      pciAddress,
      ...(driver ? { driver } : {}),
      ...(vendor ? { vendor } : {}),
      ...(device ? { device } : {}),
      ...(numaNode !== undefined && numaNode >= 0 ? { numaNode } : {}),
      ...(totalVfs !== undefined ? { totalVfs } : {}),
      ...(numVfs !== undefined ? { numVfs } : {}),
      netdevs: await netdevs(dir),
      vfs,
      vfDriverStats: await driverStats(dir),
    });
  }
  return pfs;
}
