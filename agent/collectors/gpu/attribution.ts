import type { DeviceAssignment } from '../../kubelet/pod-resources.js';

export interface PodLabels {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
}

/**
 * Device id → pod labels for NVIDIA resources (`nvidia.com/gpu`,
 * `nvidia.com/mig-*`, `nvidia.com/gpu.shared` …). With time-slicing several
 * containers hold one GPU: their names are joined with `,` in a stable
 * order, so the label set stays one series per GPU.
 */
export function nvidiaDeviceOwners(assignments: readonly DeviceAssignment[]): Map<string, PodLabels> {
  const owners = new Map<string, PodLabels[]>();
  for (const a of assignments) {
    if (!a.resourceName.startsWith('nvidia.com/')) continue;
    for (const id of a.deviceIds) {
      // Time-sliced/shared GPUs are advertised as `<uuid>::<replica>` by NVIDIA's device plugin.
      const device = id.split('::')[0] as string;
      const list = owners.get(device) ?? [];
      list.push({ namespace: a.namespace, pod: a.pod, container: a.container });
      owners.set(device, list);
    }
  }
  const out = new Map<string, PodLabels>();
  for (const [device, list] of owners) {
    list.sort((x, y) =>
      `${x.namespace}/${x.pod}/${x.container}`.localeCompare(`${y.namespace}/${y.pod}/${y.container}`),
    );
    const join = (k: keyof PodLabels): string => [...new Set(list.map((l) => l[k]))].join(',');
    out.set(device, { namespace: join('namespace'), pod: join('pod'), container: join('container') });
  }
  return out;
}
