import { once } from 'node:events';
import { Registry } from 'prom-client';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import fastify, { type FastifyInstance } from 'fastify';
import type {
  Authenticator,
  Authorizer,
  ClusterScope,
  Credentials,
  Permission,
  Principal,
} from '../../../hub/api/access.js';
import type { Bus, BusBatch, SampleMessage } from '../../../hub/bus/bus.js';
import { AuthenticationError } from '../../../hub/errors.js';
import type { StoredSeries } from '../../../hub/store/store.js';
import type { StreamConfig } from '../../../hub/stream/config.js';
import { bearerProtocol } from '../../../hub/stream/credentials.js';
import { STREAM_SUBPROTOCOL } from '../../../hub/stream/protocol.js';
import { registerStreamRoute, type StreamRouteDeps } from '../../../hub/stream/route.js';
import type { StreamHub } from '../../../hub/stream/stream-hub.js';

/**
 * Test double of the Authenticator interface: a fixed token table with
 * expiry and revocation, which really verifies what it is given.
 */
export class TokenTable implements Authenticator {
  private readonly tokens = new Map<string, Principal>();

  add(token: string, principal: Principal): void {
    this.tokens.set(token, principal);
  }

  revoke(token: string): void {
    this.tokens.delete(token);
  }

  async authenticate(credentials: Credentials): Promise<Principal | null> {
    if (credentials.bearerToken === undefined) return null;
    const principal = this.tokens.get(credentials.bearerToken);
    if (principal === undefined) throw new AuthenticationError('unknown bearer token');
    if (principal.expiresAtMs !== undefined && principal.expiresAtMs <= Date.now()) {
      throw new AuthenticationError('token expired');
    }
    return principal;
  }
}

/** Grants per principal id: resource -> clusters ('*' for all). */
export class GrantTable implements Authorizer {
  private readonly grants = new Map<string, Map<string, readonly string[]>>();

  grant(principalId: string, resource: Permission['resource'], clusters: readonly string[]): void {
    let byResource = this.grants.get(principalId);
    if (!byResource) this.grants.set(principalId, (byResource = new Map()));
    byResource.set(resource, clusters);
  }

  async allowed(principal: Principal, permission: Permission, cluster?: string): Promise<boolean> {
    if (permission.verb !== 'watch' && permission.verb !== 'get' && permission.verb !== 'list') return false;
    const clusters = this.grants.get(principal.id)?.get(permission.resource) ?? [];
    return clusters.includes('*') || (cluster !== undefined && clusters.includes(cluster));
  }

  async scope(principal: Principal, permission: Permission): Promise<ClusterScope> {
    const clusters = this.grants.get(principal.id)?.get(permission.resource) ?? [];
    return clusters.includes('*') ? { all: true } : { all: false, clusters };
  }
}

export function user(id: string, expiresAtMs?: number): Principal {
  return { kind: 'user', id, name: id, groups: [], ...(expiresAtMs === undefined ? {} : { expiresAtMs }) };
}

export interface TestHub {
  readonly app: FastifyInstance;
  readonly hub: StreamHub;
  readonly registry: Registry;
  readonly url: string;
  close(): Promise<void>;
}

export async function startHub(
  bus: Bus,
  authenticator: Authenticator,
  authorizer: Authorizer,
  config: Partial<StreamConfig> = {},
  hooks: Pick<StreamRouteDeps, 'onAccessDenied'> = {},
): Promise<TestHub> {
  const app = fastify({ logger: false });
  const registry = new Registry();
  const logger = pino({ level: process.env.AIOPS_TEST_LOG ?? 'silent' });
  const hub = await registerStreamRoute(app, {
    bus,
    authenticator,
    authorizer,
    logger,
    registry,
    config,
    ...hooks,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    app,
    hub,
    registry,
    url: `ws://127.0.0.1:${address.port}${config.path ?? '/api/v1/stream'}`,
    close: () => app.close(),
  };
}

/** A real ws client that records every message it gets. */
export class TestClient {
  readonly messages: Record<string, unknown>[] = [];
  closeCode: number | undefined;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()) as Record<string, unknown>);
      for (const w of this.waiters) w();
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      for (const w of this.waiters) w();
    });
  }

  static async connect(
    url: string,
    token: string | undefined,
    via: 'header' | 'protocol' = 'header',
    options: { autoPong?: boolean } = {},
  ): Promise<TestClient> {
    const headers =
      token !== undefined && via === 'header' ? { authorization: `Bearer ${token}` } : undefined;
    const protocols =
      token !== undefined && via === 'protocol' ? [STREAM_SUBPROTOCOL, bearerProtocol(token)] : [];
    const ws = new WebSocket(url, protocols, { headers, autoPong: options.autoPong ?? true });
    const client = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    return client;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Waits until a message satisfies `predicate` (searching those already received first). */
  async waitFor(
    predicate: (m: Record<string, unknown>) => boolean,
    timeoutMs = 5000,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(predicate);
      if (found) return found;
      if (this.closeCode !== undefined)
        throw new Error(`socket closed (${this.closeCode}) before the message`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; got ${JSON.stringify(this.messages).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
      this.waiters = [];
    }
  }

  async waitClosed(timeoutMs = 5000): Promise<number> {
    if (this.closeCode !== undefined) return this.closeCode;
    const [code] = (await Promise.race([
      once(this.ws, 'close'),
      new Promise((_, reject) => setTimeout(() => reject(new Error('not closed in time')), timeoutMs)),
    ])) as [number];
    return code;
  }

  /** Every sample tuple received, per subscription id. */
  samples(subId: string): [number, number, number | null][] {
    const out: [number, number, number | null][] = [];
    for (const m of this.messages) {
      if (m.type !== 'data') continue;
      const sub = (m.subs as Record<string, { samples?: [number, number, number | null][] }>)[subId];
      if (sub?.samples) out.push(...sub.samples);
    }
    return out;
  }

  close(): void {
    this.ws.terminate();
  }
}

export function series(id: number, over: Partial<StoredSeries> = {}): StoredSeries {
  return {
    id,
    cluster: 'c1',
    node: 'n1',
    source: 'gpu',
    entity: `GPU-${id}`,
    metric: 'gpu_temperature_celsius',
    labels: { gpu: String(id % 8) },
    kind: 'gauge',
    ...over,
  };
}

export function batch(cluster: string, samples: SampleMessage[], events: BusBatch['events'] = []): BusBatch {
  return { cluster, samples, events };
}

export function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  return registry.getSingleMetricAsString(name).then((text) => {
    let total = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith('#') || !line.startsWith(name)) continue;
      const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
      if (ok) total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  });
}

/** Retries `check` until it stops throwing (server-side state settles after the client sees a close). */
export async function eventually(check: () => unknown | Promise<unknown>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
