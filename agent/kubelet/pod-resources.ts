/**
 * Which pod holds which device, from the kubelet PodResources v1 API
 * (`List` on /var/lib/kubelet/pod-resources/kubelet.sock). Shared by the GPU
 * collector (device ids are GPU UUIDs / MIG device ids) and the SR-IOV
 * collector (device ids are VF PCI addresses).
 */
export interface DeviceAssignment {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  /** e.g. `nvidia.com/gpu`, `nvidia.com/mig-1g.10gb`, `openshift.io/sriov_nic`. */
  readonly resourceName: string;
  readonly deviceIds: readonly string[];
}

export interface PodResourcesClient {
  /** Current assignments; rejects when the kubelet socket is absent or does not answer. */
  list(signal?: AbortSignal): Promise<DeviceAssignment[]>;
  close(): void;
}
