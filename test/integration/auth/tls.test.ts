import { copyFileSync, readFileSync, renameSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import Fastify from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RevocationWatcher } from '../../../hub/auth/agents/revocation-watcher.js';
import { grpcServerTls, type GrpcServerTls } from '../../../hub/auth/tls/grpc-credentials.js';
import { assertPeerBoundToCluster } from '../../../hub/auth/tls/peer-cluster.js';
import {
  loadTlsMaterial,
  reloadServerCertificate,
  secureServerOptions,
  type TlsFiles,
} from '../../../hub/auth/tls/tls-files.js';
import type { AppError } from '../../../hub/errors.js';
import { ConfigError } from '../../../hub/errors.js';
import { MemoryStore } from '../../../hub/ingest/testing/memory-store.js';
import { describeWithComponent } from '../../support/components.js';
import { opensslMissing, TestPki } from './support/certs.js';

const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Atomically replaces `dst` with a copy of `src`, like a secret volume update. */
function replace(src: string, dst: string): void {
  copyFileSync(src, `${dst}.tmp`);
  renameSync(`${dst}.tmp`, dst);
}

describeWithComponent('openssl', opensslMissing(), 'TLS for the hub', () => {
  let pki: TestPki;
  let serverFiles: TlsFiles;
  let second: { cert: string; key: string };

  beforeAll(() => {
    pki = new TestPki();
    const first = pki.issue('server-1', 'DNS:localhost,IP:127.0.0.1');
    second = pki.issue('server-2', 'DNS:localhost,IP:127.0.0.1');
    serverFiles = { certFile: join(pki.dir, 'live.crt'), keyFile: join(pki.dir, 'live.key') };
    copyFileSync(first.cert, serverFiles.certFile);
    copyFileSync(first.key, serverFiles.keyFile);
  });

  describe('HTTPS', () => {
    const fingerprint = (port: number) =>
      new Promise<string>((resolve, reject) => {
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port,
            path: '/',
            ca: readFileSync(pki.caCert),
            agent: false,
            servername: 'localhost',
          },
          (res) => {
            const cert = (
              res.socket as unknown as { getPeerCertificate(): PeerCertificate }
            ).getPeerCertificate();
            res.resume();
            resolve(cert.fingerprint256);
          },
        );
        req.on('error', reject);
        req.end();
      });

    it('serves the configured certificate and picks up a replaced one without a restart', async () => {
      const app = Fastify({ https: secureServerOptions(await loadTlsMaterial(serverFiles)) });
      app.get('/', async () => 'ok');
      await app.listen({ host: '127.0.0.1', port: 0 });
      const watch = reloadServerCertificate(app.server as never, serverFiles, silent, { debounceMs: 50 });
      try {
        const port = (app.server.address() as AddressInfo).port;
        const before = await fingerprint(port);
        replace(second.key, serverFiles.keyFile);
        replace(second.cert, serverFiles.certFile);
        let after = before;
        for (let i = 0; i < 40 && after === before; i++) {
          await sleep(100);
          after = await fingerprint(port);
        }
        expect(after).not.toBe(before);
        expect(after).toBe(
          new (await import('node:crypto')).X509Certificate(readFileSync(second.cert)).fingerprint256,
        );
      } finally {
        watch.close();
        await app.close();
      }
    });

    it('refuses unusable files at start-up with a ConfigError naming them', async () => {
      await expect(loadTlsMaterial({ certFile: pki.caKey, keyFile: pki.caKey })).rejects.toBeInstanceOf(
        ConfigError,
      );
      await expect(
        loadTlsMaterial({ certFile: '/nonexistent.crt', keyFile: '/nonexistent.key' }),
      ).rejects.toThrow(/cannot be read/);
    });
  });

  describe('gRPC with mutual TLS bound to clusters', () => {
    const service = {
      check: {
        path: '/aiops.test.Probe/Check',
        requestStream: false,
        responseStream: false,
        requestSerialize: (v: Buffer) => v,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (v: Buffer) => v,
        responseDeserialize: (b: Buffer) => b,
      },
    } satisfies grpc.ServiceDefinition;
    const Client = grpc.makeGenericClientConstructor(service, 'Probe');
    let server: grpc.Server;
    let port: number;
    let east: { cert: string; key: string };
    const clients: grpc.Client[] = [];
    let tls: GrpcServerTls;

    beforeAll(async () => {
      east = pki.issue('agent-east', 'URI:urn:aiops:cluster:east');
      server = new grpc.Server();
      server.addService(service, {
        // Stands for ingest's Hello handling: the request carries Hello.cluster.
        check: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
          try {
            assertPeerBoundToCluster(call.getAuthContext(), call.request.toString());
            callback(null, Buffer.from('welcome'));
          } catch (err) {
            const code =
              (err as AppError).code === 'forbidden'
                ? grpc.status.PERMISSION_DENIED
                : grpc.status.UNAUTHENTICATED;
            callback({ code, details: (err as Error).message });
          }
        },
      });
      tls = await grpcServerTls(
        { ...serverFiles, caFile: pki.caCert, requireClientCertificate: true, debounceMs: 50 },
        silent,
      );
      port = await new Promise<number>((resolve, reject) =>
        server.bindAsync('127.0.0.1:0', tls.credentials, (err, p) => (err ? reject(err) : resolve(p))),
      );
    });

    afterAll(() => {
      for (const c of clients) c.close();
      server?.forceShutdown();
      tls?.close();
    });

    function call(
      cluster: string,
      identity?: { cert: string; key: string },
      seen?: string[],
    ): Promise<string> {
      const credentials = grpc.credentials.createSsl(
        readFileSync(pki.caCert),
        identity ? readFileSync(identity.key) : null,
        identity ? readFileSync(identity.cert) : null,
        {
          checkServerIdentity: (_host, cert) => {
            seen?.push(cert.fingerprint256);
            return undefined;
          },
        },
      );
      const client = new Client(`127.0.0.1:${port}`, credentials, {
        'grpc.ssl_target_name_override': 'localhost',
        'grpc.use_local_subchannel_pool': 1,
      });
      clients.push(client);
      return new Promise((resolve, reject) =>
        client.makeUnaryRequest(
          service.check.path,
          (v: Buffer) => v,
          (b: Buffer) => b,
          Buffer.from(cluster),
          { deadline: Date.now() + 5_000 },
          (err: grpc.ServiceError | null, value?: Buffer) => (err ? reject(err) : resolve(String(value))),
        ),
      );
    }

    it('accepts an agent whose certificate names the cluster it sends for', async () => {
      expect(await call('east', east)).toBe('welcome');
    });

    it('refuses an agent that sends for another cluster than its certificate names', async () => {
      await expect(call('west', east)).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    });

    it('refuses a connection without a client certificate', async () => {
      await expect(call('east')).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    });

    it('refuses a client certificate from another CA', async () => {
      const other = new TestPki();
      await expect(call('east', other.issue('rogue', 'URI:urn:aiops:cluster:east'))).rejects.toMatchObject({
        code: grpc.status.UNAVAILABLE,
      });
    });

    it('serves a replaced certificate to new connections without a restart', async () => {
      const seenBefore: string[] = [];
      await call('east', east, seenBefore);
      const third = pki.issue('server-3', 'DNS:localhost,IP:127.0.0.1');
      replace(third.key, serverFiles.keyFile);
      replace(third.cert, serverFiles.certFile);
      const expected = new (await import('node:crypto')).X509Certificate(readFileSync(third.cert))
        .fingerprint256;
      let seen: string[] = [];
      for (let i = 0; i < 40 && !seen.includes(expected); i++) {
        await sleep(100);
        seen = [];
        await call('east', east, seen);
      }
      expect(seenBefore).not.toContain(expected);
      expect(seen).toContain(expected);
    });
  });
});

describe('RevocationWatcher', () => {
  it('reports each revoked enrollment token once', async () => {
    const store = new MemoryStore();
    const a = await store.enrollmentTokens.create('east', 'a');
    const b = await store.enrollmentTokens.create('east', 'b');
    const reported: string[][] = [];
    const watcher = new RevocationWatcher({
      tokens: store.enrollmentTokens,
      onRevoked: (ids) => reported.push([...ids]),
      logger: silent,
    });
    await watcher.poll();
    expect(reported).toEqual([]);
    await store.enrollmentTokens.revoke(a.info.id);
    await watcher.poll();
    await watcher.poll();
    await store.enrollmentTokens.revoke(b.info.id);
    await watcher.poll();
    expect(reported).toEqual([[a.info.id], [b.info.id]]);
    await watcher.stop();
    await watcher.stop();
  });
});
