import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHub, type Hub } from '../../hub/build-hub.js';
import { loadHubConfig } from '../../hub/config.js';
import { ConfigError } from '../../hub/errors.js';
import { createLogger } from '../../hub/logging.js';
import { IngestServiceClient, MetricType, type PushResponse } from '../../proto/gen/aiops/v1/ingest.js';
import { startAgent } from '../../agent/agent.js';
import { hostCollectorFactory } from '../../agent/collectors/host/index.js';
import { loadAgentConfig } from '../../agent/config.js';
import { describeWithComponent } from '../support/components.js';
import { opensslMissing, TestPki } from '../integration/auth/support/certs.js';

/**
 * The hub as configured for production transport security: HTTPS for the API,
 * TLS with client certificates bound to clusters for gRPC ingest, and the
 * listen guard refusing plain text on a reachable address.
 */
describeWithComponent('openssl', opensslMissing(), 'hub with TLS and mutual TLS ingest', () => {
  let hub: Hub;
  let dir: string;
  let pki: TestPki;
  let eastToken: string;
  let westToken: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aiops-hub-tls-'));
    pki = new TestPki();
    const server = pki.issue('hub', 'DNS:localhost,IP:127.0.0.1');
    const config = loadHubConfig({
      AIOPS_DATA_DIR: join(dir, 'hub'),
      AIOPS_HTTP_ADDRESS: '127.0.0.1:0',
      AIOPS_GRPC_ADDRESS: '127.0.0.1:0',
      AIOPS_HTTP_TLS_CERT_FILE: server.cert,
      AIOPS_HTTP_TLS_KEY_FILE: server.key,
      AIOPS_GRPC_TLS_CERT_FILE: server.cert,
      AIOPS_GRPC_TLS_KEY_FILE: server.key,
      AIOPS_GRPC_TLS_CLIENT_CA_FILE: pki.caCert,
    });
    hub = await startHub(config, createLogger({ level: 'silent' }));
    eastToken = (await hub.store.enrollmentTokens.create('east', 'tls test')).token;
    westToken = (await hub.store.enrollmentTokens.create('west', 'tls test')).token;
  }, 120_000);

  afterAll(async () => {
    await hub?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function client(cert?: { cert: string; key: string }): IngestServiceClient {
    const creds = cert
      ? credentials.createSsl(readFileSync(pki.caCert), readFileSync(cert.key), readFileSync(cert.cert))
      : credentials.createSsl(readFileSync(pki.caCert));
    return new IngestServiceClient(hub.grpcAddress, creds);
  }

  function push(c: IngestServiceClient, token: string, cluster: string): Promise<PushResponse> {
    const md = new Metadata();
    md.set('authorization', `Bearer ${token}`);
    const now = Date.now();
    return new Promise((resolve, reject) =>
      c.push(
        {
          hello: { agentId: `tls-${cluster}`, cluster, node: 'n1', version: 'test', capabilities: [] },
          batch: {
            sequence: 1,
            droppedBefore: 0,
            series: [
              {
                ref: 1,
                metric: 'm_test',
                source: 'test',
                entity: '',
                labels: [],
                type: MetricType.METRIC_TYPE_GAUGE,
              },
            ],
            samples: [{ ref: 1, timestampsMs: [now], values: [1] }],
            events: [],
            inventory: [],
          },
        },
        md,
        { deadline: Date.now() + 15_000 },
        (err: ServiceError | null, res?: PushResponse) => (err ? reject(err) : resolve(res!)),
      ),
    );
  }

  it('serves the API over HTTPS', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const agent = new Agent({ ca: readFileSync(pki.caCert) });
      import('node:https').then(({ get }) =>
        get(`${hub.httpUrl}/readyz`, { agent }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve(text));
        }).on('error', reject),
      );
    });
    expect(hub.httpUrl).toMatch(/^https:/);
    expect(JSON.parse(body)).toMatchObject({ status: 'ready' });
  });

  it('accepts an agent whose client certificate names its cluster', async () => {
    const c = client(pki.issue('agent-east', 'URI:urn:aiops:cluster:east'));
    await expect(push(c, eastToken, 'east')).resolves.toMatchObject({ ackedSequence: 1 });
    c.close();
  });

  it('refuses a valid token of another cluster than the certificate names', async () => {
    const c = client(pki.issue('agent-east-2', 'URI:urn:aiops:cluster:east'));
    await expect(push(c, westToken, 'west')).rejects.toMatchObject({ code: status.PERMISSION_DENIED });
    c.close();
    const stored = await hub.store.agents.list('west');
    expect(stored).toEqual([]);
  });

  it('refuses an agent without a client certificate', async () => {
    const c = client();
    await expect(push(c, eastToken, 'east')).rejects.toMatchObject({ code: status.UNAVAILABLE });
    c.close();
  });

  it('streams a real agent over mutual TLS with its cluster-bound certificate', async () => {
    const cert = pki.issue('agent-east-stream', 'URI:urn:aiops:cluster:east');
    const config = loadAgentConfig({
      env: {},
      factories: [hostCollectorFactory],
      overrides: {
        hubAddress: hub.grpcAddress,
        tls: true,
        tlsCaFile: pki.caCert,
        tlsCertFile: cert.cert,
        tlsKeyFile: cert.key,
        token: eastToken,
        cluster: 'east',
        nodeName: 'mtls-node',
        dataDir: join(dir, 'agent'),
        httpAddress: 'off',
        batch: { maxAgeMs: 100 },
        collectors: { host: { intervalMs: 500 } },
      },
    });
    const agent = await startAgent(config, createLogger({ level: 'silent' }) as never, {
      factories: [hostCollectorFactory],
    });
    try {
      const deadline = Date.now() + 20_000;
      let found = 0;
      while (Date.now() < deadline && found === 0) {
        found = (await hub.store.latest({ cluster: 'east', node: 'mtls-node', source: 'host' }, 10)).length;
        if (found === 0) await new Promise((r) => setTimeout(r, 200));
      }
      expect(found).toBeGreaterThan(0);
    } finally {
      await agent.stop();
    }
  });

  it('refuses to listen in plain text on a reachable address', async () => {
    const config = loadHubConfig({
      AIOPS_DATA_DIR: join(dir, 'never'),
      AIOPS_HTTP_ADDRESS: '0.0.0.0:0',
      AIOPS_GRPC_ADDRESS: '127.0.0.1:0',
    });
    await expect(startHub(config, createLogger({ level: 'silent' }))).rejects.toBeInstanceOf(ConfigError);
  });
});
