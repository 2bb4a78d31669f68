import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Collector, CollectorDeps } from '../collector.js';
import type { DeviceAssignment, PodResourcesClient } from '../../kubelet/pod-resources.js';
import { createPodResourcesClient } from '../../kubelet/pod-resources-client.js';
import type { Collection } from '../../model/telemetry.js';
import type { SriovCollectorConfig } from './config.js';
import { readVfLinks, type VfCounters, type VfLinkInfo } from './ip-link.js';
import { readSriovSysfs, type PfSysfsInfo, type VfSysfsInfo } from './sysfs.js';
import { CollectionBuilder, FailureLog } from '../collection-builder.js';

const source = 'sriov';

/** What the agent gives the SR-IOV collector; `podResources` overrides the client built from config. */
export interface SriovCollectorDeps extends CollectorDeps {
  readonly podResources?: PodResourcesClient;
}

/** Netlink counter -> metric stem (`sriov_vf_<stem>_total`); the same stems as the Intel sysfs stat files. */
const counterStems: readonly [keyof VfCounters, string][] = [
  ['rxBytes', 'rx_bytes'],
  ['rxPackets', 'rx_packets'],
  ['rxMulticast', 'rx_multicast'],
  ['rxBroadcast', 'rx_broadcast'],
  ['rxDropped', 'rx_dropped'],
  ['txBytes', 'tx_bytes'],
  ['txPackets', 'tx_packets'],
  ['txDropped', 'tx_dropped'],
];

interface VfMemory {
  linkState?: string;
  operstate?: string;
  droppedTotal?: number;
  droppedAtMs?: number;
  dropRatePerSecond?: number;
}

/**
 * SR-IOV PF/VF inventory from sysfs, per-VF configuration and counters from
 * netlink (`ip -j -s -d link show dev <pf>`) and driver sysfs stats, VF-to-pod
 * attribution from the kubelet PodResources API. See README.md.
 */
export class SriovCollector implements Collector {
  readonly name = source;
  private readonly log: Logger;
  /** A failure that repeats every run is logged once, until it changes or clears. */
  private readonly failures: FailureLog;
  private podResources: PodResourcesClient | undefined;
  private readonly ownsPodResources: boolean;
  private readonly numVfs = new Map<string, number>();
  private readonly vfMemory = new Map<string, VfMemory>();

  constructor(
    private readonly config: SriovCollectorConfig,
    private readonly deps: SriovCollectorDeps,
  ) {
    this.log = deps.logger.child({ component: 'collector', collector: source });
    this.failures = new FailureLog(this.log);
    this.podResources = deps.podResources;
    this.ownsPodResources = deps.podResources === undefined && config.podResourcesSocket !== '';
  }

  async start(): Promise<void> {
    if (this.ownsPodResources && !this.podResources) {
      try {
        this.podResources = createPodResourcesClient({
          socketPath: this.config.podResourcesSocket,
          timeoutMs: this.config.podResourcesTimeoutMs,
        });
      } catch (err) {
        // Attribution is optional: without a client the VFs are reported without pod labels.
        this.log.warn({ err }, 'PodResources client could not be created; VF pod attribution off');
      }
    }
    const pfs = await readSriovSysfs(this.config.sysfsRoot);
    this.log.info(
      { sysfsRoot: this.config.sysfsRoot, pfs: pfs.map((p) => p.pciAddress) },
      'sriov collector started',
    );
  }

  async collect(signal: AbortSignal): Promise<Collection> {
    const out = new CollectionBuilder(source);
    const nowMs = this.deps.now();
    const pfs = (await readSriovSysfs(this.config.sysfsRoot)).filter((pf) => this.selected(pf));
    if (pfs.length === 0) {
      out.inventory.push({
        observedMs: nowMs,
        source,
        entity: source,
        kind: 'collector',
        attributes: { sysfs_root: this.config.sysfsRoot, pfs: this.config.pfs.join(',') },
        absent: true,
        absentReason: 'no SR-IOV capable PCI device (sriov_totalvfs / sriov_numvfs) under sysfs',
      });
      return out;
    }
    const pods = await this.readPods(signal, nowMs, out);
    for (const pf of pfs) await this.readPf(pf, pods, nowMs, signal, out);
    return out;
  }

  async stop(): Promise<void> {
    if (this.ownsPodResources) this.podResources?.close();
    this.podResources = this.ownsPodResources ? undefined : this.podResources;
  }

  private selected(pf: PfSysfsInfo): boolean {
    if (this.config.pfs.length === 0) return true;
    return this.config.pfs.some((want) => want === pf.pciAddress || pf.netdevs.some((n) => n.name === want));
  }

  /** Device id -> assignment; empty when PodResources is disabled or fails (then attribution is absent, not stale). */
  private async readPods(
    signal: AbortSignal,
    nowMs: number,
    out: CollectionBuilder,
  ): Promise<Map<string, DeviceAssignment>> {
    const map = new Map<string, DeviceAssignment>();
    if (!this.podResources) {
      if (this.ownsPodResources) out.sample('sriov_pod_resources_up', '', {}, 0, nowMs);
      return map;
    }
    if (this.ownsPodResources && !(await stat(this.config.podResourcesSocket).catch(() => undefined))) {
      out.sample('sriov_pod_resources_up', '', {}, 0, nowMs);
      return map;
    }
    try {
      for (const assignment of await this.podResources.list(signal)) {
        for (const id of assignment.deviceIds) map.set(id, assignment);
      }
      out.sample('sriov_pod_resources_up', '', {}, 1, nowMs);
      this.failures.cleared('podresources');
    } catch (err) {
      if (signal.aborted) throw err;
      this.failures.warnOnce('podresources', err, {}, 'PodResources List failed; VF pod attribution skipped');
      out.sample('sriov_pod_resources_up', '', {}, 0, nowMs);
    }
    return map;
  }

  private async readPf(
    pf: PfSysfsInfo,
    pods: Map<string, DeviceAssignment>,
    nowMs: number,
    signal: AbortSignal,
    out: CollectionBuilder,
  ): Promise<void> {
    const netdev = pf.netdevs[0];
    const pfName = netdev?.name ?? '';
    const labels = { pf: pfName };
    out.sample('sriov_pf_total_vfs', pf.pciAddress, labels, pf.totalVfs, nowMs);
    out.sample('sriov_pf_num_vfs', pf.pciAddress, labels, pf.numVfs, nowMs);
    out.sample('sriov_pf_mtu_bytes', pf.pciAddress, labels, netdev?.mtuBytes, nowMs);
    out.sample(
      'sriov_pf_link_speed_bits_per_second',
      pf.pciAddress,
      labels,
      netdev?.speedMbps !== undefined ? netdev.speedMbps * 1e6 : undefined,
      nowMs,
    );
    if (netdev?.operstate !== undefined)
      out.sample('sriov_pf_link_up', pf.pciAddress, labels, netdev.operstate === 'up' ? 1 : 0, nowMs);

    const previousNumVfs = this.numVfs.get(pf.pciAddress);
    if (pf.numVfs !== undefined) {
      if (previousNumVfs !== undefined && previousNumVfs !== pf.numVfs) {
        out.event(
          nowMs,
          'sriov_num_vfs_changed',
          'warning',
          pf.pciAddress,
          `PF ${pfName || pf.pciAddress} numVFs ${previousNumVfs} to ${pf.numVfs}`,
          {
            pf: pfName,
            from: String(previousNumVfs),
            to: String(pf.numVfs),
          },
        );
      }
      this.numVfs.set(pf.pciAddress, pf.numVfs);
    }

    // Netlink knows VF config and counters; a PF with no netdev (bound to vfio, say) or no VFs has nothing to ask.
    let links: VfLinkInfo[] = [];
    if (pfName !== '' && pf.numVfs !== 0) {
      try {
        links = await readVfLinks(this.config.ipPath, pfName, this.config.ipTimeoutMs, signal);
        out.sample('sriov_pf_netlink_up', pf.pciAddress, labels, 1, nowMs);
        this.failures.cleared(`ip:${pfName}`);
      } catch (err) {
        if (signal.aborted) throw err;
        this.failures.warnOnce(`ip:${pfName}`, err, { pf: pfName }, 'reading VF info through ip link failed');
        out.sample('sriov_pf_netlink_up', pf.pciAddress, labels, 0, nowMs);
      }
    }

    const indices = new Set<number>([...pf.vfs.map((v) => v.index), ...links.map((l) => l.index)]);
    for (const index of [...indices].sort((a, b) => a - b)) {
      const sys = pf.vfs.find((v) => v.index === index);
      const link = links.find((l) => l.index === index);
      this.readVf(pf, pfName, index, sys, link, pods, nowMs, out);
    }

    out.inventory.push({
      observedMs: nowMs,
      source,
      entity: pf.pciAddress,
      kind: 'nic_pf',
      attributes: strings({
        pci_address: pf.pciAddress,
        name: pfName,
        driver: pf.driver,
        vendor: pf.vendor,
        device: pf.device,
        numa_node: pf.numaNode,
        total_vfs: pf.totalVfs,
        num_vfs: pf.numVfs,
        mtu_bytes: netdev?.mtuBytes,
        speed_mbps: netdev?.speedMbps,
        operstate: netdev?.operstate,
        mac: netdev?.address,
      }),
    });
  }

  private readVf(
    pf: PfSysfsInfo,
    pfName: string,
    index: number,
    sys: VfSysfsInfo | undefined,
    link: VfLinkInfo | undefined,
    pods: Map<string, DeviceAssignment>,
    nowMs: number,
    out: CollectionBuilder,
  ): void {
    // A VF without a virtfn link (incomplete sysfs) is still reported, under its PF and index.
    const entity = sys?.pciAddress ?? `${pf.pciAddress}/vf${index}`;
    const pod = sys ? pods.get(sys.pciAddress) : undefined;
    const labels: Record<string, string> = {
      pf: pfName,
      vf: String(index),
      ...(pod
        ? { namespace: pod.namespace, pod: pod.pod, container: pod.container, resource: pod.resourceName }
        : {}),
    };

    // Netlink counters first; the driver's own sysfs stats add what netlink lacks (tx_errors, tx_broadcast, ...).
    const counters = new Map<string, number>();
    for (const [key, stem] of counterStems) {
      const value = link?.counters?.[key];
      if (value !== undefined) counters.set(stem, value);
    }
    for (const [name, value] of Object.entries(pf.vfDriverStats.get(index) ?? {})) {
      const stem = name.toLowerCase().replace(/[^a-z0-9_]/g, '_');
      if (!counters.has(stem)) counters.set(stem, value);
    }
    for (const [stem, value] of counters)
      out.sample(`sriov_vf_${stem}_total`, entity, labels, value, nowMs, 'counter');

    const vfNetdev = sys?.netdevs[0];
    if (vfNetdev?.operstate !== undefined)
      out.sample('sriov_vf_link_up', entity, labels, vfNetdev.operstate === 'up' ? 1 : 0, nowMs);

    const memory = this.vfMemory.get(entity) ?? {};
    const attrs = { pf: pfName, vf: String(index) };
    if (link?.linkState !== undefined) {
      if (memory.linkState !== undefined && memory.linkState !== link.linkState) {
        out.event(
          nowMs,
          'sriov_vf_link_state_change',
          link.linkState === 'disable' ? 'warning' : 'info',
          entity,
          `VF ${index} of ${pfName} link-state ${memory.linkState} to ${link.linkState}`,
          {
            ...attrs,
            from: memory.linkState,
            to: link.linkState,
          },
        );
      }
      memory.linkState = link.linkState;
    }
    if (vfNetdev?.operstate !== undefined) {
      if (memory.operstate !== undefined && memory.operstate !== vfNetdev.operstate) {
        const up = vfNetdev.operstate === 'up';
        out.event(
          nowMs,
          'sriov_vf_link_change',
          up ? 'info' : 'warning',
          entity,
          `VF ${index} of ${pfName} link ${up ? 'up' : 'down'}`,
          {
            ...attrs,
            from: memory.operstate,
            to: vfNetdev.operstate,
          },
        );
      }
      memory.operstate = vfNetdev.operstate;
    }
    this.checkDropRate(entity, counters, memory, attrs, nowMs, out);
    this.vfMemory.set(entity, memory);

    out.inventory.push({
      observedMs: nowMs,
      source,
      entity,
      kind: 'nic_vf',
      attributes: strings({
        pf_pci_address: pf.pciAddress,
        pf: pfName,
        vf: index,
        pci_address: sys?.pciAddress,
        driver: sys?.driver,
        netdev: vfNetdev?.name,
        mac: link?.mac,
        vlan: link?.vlan,
        qos: link?.qos,
        spoof_check: link?.spoofCheck,
        trust: link?.trust,
        link_state: link?.linkState,
        namespace: pod?.namespace,
        pod: pod?.pod,
        container: pod?.container,
        resource: pod?.resourceName,
      }),
    });
  }

  /** Drop rate = (rx_dropped + tx_dropped) per second between two runs; a jump is an event. */
  private checkDropRate(
    entity: string,
    counters: Map<string, number>,
    memory: VfMemory,
    attrs: Record<string, string>,
    nowMs: number,
    out: CollectionBuilder,
  ): void {
    const rx = counters.get('rx_dropped');
    const tx = counters.get('tx_dropped');
    if (rx === undefined && tx === undefined) return;
    const total = (rx ?? 0) + (tx ?? 0);
    if (
      memory.droppedTotal !== undefined &&
      memory.droppedAtMs !== undefined &&
      nowMs > memory.droppedAtMs &&
      total >= memory.droppedTotal
    ) {
      const rate = ((total - memory.droppedTotal) * 1000) / (nowMs - memory.droppedAtMs);
      const previous = memory.dropRatePerSecond ?? 0;
      if (rate >= this.config.dropRateJumpMinPerSecond && rate >= previous * this.config.dropRateJumpFactor) {
        out.event(
          nowMs,
          'sriov_vf_drop_rate_jump',
          'warning',
          entity,
          `VF ${attrs.vf} of ${attrs.pf} drops ${rate.toFixed(1)}/s (was ${previous.toFixed(1)}/s)`,
          {
            ...attrs,
            rate_per_second: rate.toFixed(3),
            previous_rate_per_second: previous.toFixed(3),
          },
        );
      }
      memory.dropRatePerSecond = rate;
    }
    // A counter that went backwards (driver reload, VF re-created) restarts the baseline.
    memory.droppedTotal = total;
    memory.droppedAtMs = nowMs;
  }
}

function strings(values: Record<string, string | number | boolean | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) if (value !== undefined) out[key] = String(value);
  return out;
}
