import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPodResourcesClient } from './pod-resources-client.js';
import { startPodResourcesServer, type PodResourcesServer } from './pod-resources-server.js';

const fixture = JSON.parse(
  readFileSync(new URL('../../test/fixtures/gpu/podresources/list-h100-mig.json', import.meta.url), 'utf8'),
) as unknown;

describe('PodResourcesClient', () => {
  let server: PodResourcesServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('lists device assignments from a real gRPC server on a unix socket', async () => {
    server = await startPodResourcesServer({ respond: () => fixture });
    const client = createPodResourcesClient({ socketPath: server.socketPath });
    try {
      const assignments = await client.list();
      expect(assignments).toEqual([
        {
          namespace: 'ml',
          pod: 'trainer-0',
          container: 'pytorch',
          resourceName: 'nvidia.com/mig-3g.40gb',
          deviceIds: ['MIG-00000000-0000-0000-0000-000000000000'],
        },
        {
          namespace: 'research',
          pod: 'notebook-7',
          container: 'jupyter',
          resourceName: 'nvidia.com/mig-1g.10gb',
          deviceIds: ['MIG-00000002-0000-0000-0000-000000000002'],
        },
        {
          namespace: 'ran',
          pod: 'cnf-du-0',
          container: 'du',
          resourceName: 'openshift.io/sriov_nic',
          deviceIds: ['0000:3b:02.1'],
        },
        {
          namespace: 'batch',
          pod: 'full-gpu',
          container: 'job',
          resourceName: 'nvidia.com/gpu',
          deviceIds: ['GPU-00000000-0000-0000-0000-000000000000'],
        },
      ]);
      expect(server.calls()).toBe(1);
    } finally {
      client.close();
    }
  });

  it('returns no assignments for a node with no pods', async () => {
    server = await startPodResourcesServer({ respond: () => ({}) });
    const client = createPodResourcesClient({ socketPath: server.socketPath });
    try {
      expect(await client.list()).toEqual([]);
    } finally {
      client.close();
    }
  });

  it('rejects with a clear error when the kubelet socket is absent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aiops-podres-none-'));
    const client = createPodResourcesClient({ socketPath: join(dir, 'kubelet.sock'), timeoutMs: 1_000 });
    try {
      await expect(client.list()).rejects.toThrow(/PodResources List on .*kubelet\.sock failed/);
    } finally {
      client.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects when the kubelet answers with an error, and works again afterwards', async () => {
    let fail = true;
    server = await startPodResourcesServer({
      respond: () => {
        if (fail) throw new Error('kubelet restarting');
        return fixture;
      },
    });
    const client = createPodResourcesClient({ socketPath: server.socketPath });
    try {
      await expect(client.list()).rejects.toThrow(/kubelet restarting/);
      fail = false;
      expect(await client.list()).toHaveLength(4);
    } finally {
      client.close();
    }
  });

  it('honours an aborted signal and a closed client', async () => {
    server = await startPodResourcesServer({ respond: () => fixture });
    const client = createPodResourcesClient({ socketPath: server.socketPath });
    const controller = new AbortController();
    controller.abort(new Error('scheduler timeout'));
    await expect(client.list(controller.signal)).rejects.toThrow(/aborted/);
    client.close();
    client.close();
    await expect(client.list()).rejects.toThrow(/closed/);
  });
});
