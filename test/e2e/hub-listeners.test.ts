import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type Hub } from '../../hub/build-hub.js';
import { loadHubConfig } from '../../hub/config.js';
import { createLogger } from '../../hub/logging.js';
import { STREAM_SUBPROTOCOL } from '../../hub/stream/protocol.js';
import { bearerProtocol } from '../../hub/stream/credentials.js';

/**
 * "No route, stream or socket of the hub answers data without a valid
 * credential", checked on the hub as `npm start` assembles it (startHub in
 * this process; the all-in-one agent that `npm start` also spawns, with its
 * unauthenticated loopback ops endpoint for its own health and metrics, is
 * a separate process and outside this test: docs/security.md). First the
 * listeners are enumerated from the kernel (this process's listening TCP and
 * unix sockets, /proc), so a listener nobody knew of fails the test; then each
 * is probed without a credential and with a bad one: every HTTP route of the
 * route table (all methods), the metrics route, the WebSocket upgrade, and
 * both gRPC methods. The data pushed first (cluster SECRET) must appear in no
 * answer.
 */
const SECRET = 'listener-secret-cluster';
const BAD_TOKENS = [undefined, 'not-a-token', `aiok_${'0'.repeat(16)}_${'A'.repeat(43)}`, 'aiops_et_wrong'];

/** Listening sockets of this process: TCP ports and unix socket paths. */
function listeningSockets(): { tcpPorts: number[]; unixPaths: string[] } {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1] as string);
    } catch {
      // fd closed meanwhile
    }
  }
  const tcpPorts: number[] = [];
  for (const file of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // st 0A = LISTEN; f[9] is the inode.
      if (f[3] === '0A' && inodes.has(f[9] as string))
        tcpPorts.push(parseInt((f[1] as string).split(':')[1] as string, 16));
    }
  }
  const unixPaths: string[] = [];
  for (const line of readFileSync('/proc/self/net/unix', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // Flags 00010000 = __SO_ACCEPTCON (listening); f[6] inode, f[7] path.
    if (f[3] === '00010000' && inodes.has(f[6] as string) && f[7]) unixPaths.push(f[7]);
  }
  return { tcpPorts: [...new Set(tcpPorts)].sort(), unixPaths };
}

describe('every listener of the hub refuses to answer data without a valid credential', () => {
  let hub: Hub;
  let dir: string;
  let before: { tcpPorts: number[]; unixPaths: string[] };
  let ingest: grpc.Client & Record<string, (...args: unknown[]) => unknown>;

  beforeAll(async () => {
    before = listeningSockets();
    dir = mkdtempSync(join(tmpdir(), 'aiops-listeners-'));
    const config = loadHubConfig({
      AIOPS_DATA_DIR: join(dir, 'hub'),
      AIOPS_HTTP_ADDRESS: '127.0.0.1:0',
      AIOPS_GRPC_ADDRESS: '127.0.0.1:0',
      AIOPS_LOG_LEVEL: 'silent',
      // Every probe below is a failed authentication from one address.
      AIOPS_AUTH_FAILURES_PER_MINUTE: '100000',
    });
    hub = await startHub(config, createLogger({ level: 'silent' }));
    const definition = protoLoader.loadSync(join(import.meta.dirname, '../../proto/aiops/v1/ingest.proto'), {
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: true,
    });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      aiops: { v1: { IngestService: grpc.ServiceClientConstructor } };
    };
    ingest = new pkg.aiops.v1.IngestService(
      hub.grpcAddress,
      grpc.credentials.createInsecure(),
    ) as unknown as typeof ingest;
    // Data the probes must never see.
    const token = (await hub.store.enrollmentTokens.create(SECRET, 'listeners')).token;
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    await new Promise<void>((resolve, reject) =>
      (ingest.Push as (r: unknown, m: grpc.Metadata, cb: (e: Error | null) => void) => void)(
        pushRequest('agent-ok', 1),
        md,
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  }, 120_000);

  afterAll(async () => {
    ingest?.close();
    await hub?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function pushRequest(agentId: string, sequence: number) {
    const now = Date.now();
    return {
      hello: { agent_id: agentId, cluster: SECRET, node: 'n1', version: 't', capabilities: [] },
      batch: {
        sequence,
        series: [
          {
            ref: 1,
            metric: 'gpu_temperature_celsius',
            source: 'gpu',
            entity: 'GPU-secret',
            type: 'METRIC_TYPE_GAUGE',
          },
        ],
        samples: [{ ref: 1, timestamps_ms: [now - 1000], values: [42] }],
      },
    };
  }

  it('listens on exactly the HTTP and gRPC ports over TCP, and the embedded store on a private unix socket', () => {
    const after = listeningSockets();
    const httpPort = Number(new URL(hub.httpUrl).port);
    const grpcPort = Number(hub.grpcAddress.split(':').at(-1));
    const opened = after.tcpPorts.filter((p) => !before.tcpPorts.includes(p));
    expect(opened.sort()).toEqual([httpPort, grpcPort].sort());
    const unix = after.unixPaths.filter((p) => !before.unixPaths.includes(p));
    // PGlite's wire-protocol socket: reachable only by this user (directory 0700), never over the network.
    expect(unix).toHaveLength(1);
    expect(unix[0]).toMatch(/\.s\.PGSQL\.5432$/);
    expect(statSync(dirname(unix[0] as string)).mode & 0o077).toBe(0);
  });

  it('HTTP: every route of the table, every method, answers 401 problem+json and no data', async () => {
    const doc = (await (await fetch(`${hub.httpUrl}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    // Liveness and readiness answer without credentials (kubelet probes) and carry no data.
    const publicRoutes = new Set(['GET /healthz', 'GET /readyz']);
    let probed = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      const methods = Object.keys(ops).map((m) => m.toUpperCase());
      // fastify answers HEAD for every GET route: a HEAD's content-length must not leak either.
      if (methods.includes('GET')) methods.push('HEAD');
      for (const method of methods) {
        const url = `${hub.httpUrl}${path.replace(/\{\w+\}/g, 'probe')}`;
        for (const token of BAD_TOKENS) {
          const res = await fetch(url, {
            method,
            headers: {
              ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
              ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
            },
            body: method === 'POST' ? '{}' : undefined,
          });
          const body = await res.text();
          probed++;
          expect(body, `${method} ${path}`).not.toContain(SECRET);
          if (publicRoutes.has(`${method === 'HEAD' ? 'GET' : method} ${path}`)) {
            expect(res.status, `${method} ${path}`).toBe(200);
            continue;
          }
          expect(res.status, `${method} ${path} with ${token ?? 'no token'}`).toBe(401);
          expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        }
      }
    }
    expect(probed).toBeGreaterThanOrEqual(25 * BAD_TOKENS.length);
    // The hub's own metrics are one of those routes; say so explicitly.
    expect(Object.keys(doc.paths)).toContain('/api/v1/metrics');
    // The documentation page is public and carries no data.
    const docs = await fetch(`${hub.httpUrl}/api/v1/docs/`);
    expect(await docs.text()).not.toContain(SECRET);
  });

  it('WebSocket: the upgrade is refused (401) without a credential or with a bad one', async () => {
    const url = `${hub.httpUrl.replace(/^http/, 'ws')}/api/v1/stream`;
    for (const token of BAD_TOKENS) {
      for (const via of ['header', 'subprotocol'] as const) {
        if (token === undefined && via === 'subprotocol') continue;
        const socket = new WebSocket(
          url,
          via === 'subprotocol' && token ? [STREAM_SUBPROTOCOL, bearerProtocol(token)] : [],
          { headers: via === 'header' && token ? { authorization: `Bearer ${token}` } : {} },
        );
        const status = await new Promise<number>((resolve, reject) => {
          socket.once('open', () => reject(new Error(`stream opened with ${token ?? 'no token'}`)));
          socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
          socket.once('error', reject);
        });
        expect(status, `${token ?? 'no token'} via ${via}`).toBe(401);
      }
    }
  });

  it('gRPC: Push and Stream refuse a missing or bad enrollment token (UNAUTHENTICATED) and store nothing', async () => {
    for (const token of BAD_TOKENS) {
      const md = new grpc.Metadata();
      if (token !== undefined) md.set('authorization', `Bearer ${token}`);
      const pushErr = await new Promise<grpc.ServiceError | null>((resolve) =>
        (ingest.Push as (r: unknown, m: grpc.Metadata, cb: (e: grpc.ServiceError | null) => void) => void)(
          pushRequest('intruder-push', 1),
          md,
          resolve,
        ),
      );
      expect(pushErr?.code, `Push with ${token ?? 'no token'}`).toBe(grpc.status.UNAUTHENTICATED);

      const call = (ingest.Stream as (m: grpc.Metadata) => grpc.ClientDuplexStream<unknown, unknown>)(md);
      const outcome = new Promise<{ code?: number; data: boolean }>((resolve) => {
        let data = false;
        call.on('data', () => (data = true));
        call.on('error', (err: grpc.ServiceError) => resolve({ code: err.code, data }));
        call.on('end', () => resolve({ data }));
      });
      const { hello, batch } = pushRequest('intruder-stream', 1);
      call.write({ hello });
      call.write({ batch });
      const result = await outcome;
      call.cancel();
      expect(result, `Stream with ${token ?? 'no token'}`).toEqual({
        code: grpc.status.UNAUTHENTICATED,
        data: false,
      });
    }
    const agents = await hub.store.agents.list(SECRET);
    expect(agents.map((a) => a.agentId)).toEqual(['agent-ok']);
    expect(await hub.store.lastSequence('intruder-push')).toBe(0);
    expect(await hub.store.lastSequence('intruder-stream')).toBe(0);
  });
});
