/*
 * A third-party agent written only from docs/protocol.md and the .proto file:
 * it loads proto/aiops/v1/ingest.proto at run time with @grpc/proto-loader
 * (no generated TypeScript, no hub code) and speaks the protocol as the doc
 * describes it. Proves the contract is implementable with stock tooling.
 */
import { credentials, loadPackageDefinition, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIngestServer, type IngestServer } from '../../../hub/ingest/server.js';
import { openTestStore, silentLogger, type TestStore } from './support.js';

const protoPath = fileURLToPath(new URL('../../../proto/aiops/v1/ingest.proto', import.meta.url));

interface AnyMessage {
  [k: string]: unknown;
}
interface DuplexCall {
  write(m: AnyMessage): void;
  end(): void;
  on(ev: 'data', f: (m: AnyMessage) => void): void;
  on(ev: 'error', f: (e: ServiceError) => void): void;
  on(ev: 'end', f: () => void): void;
}
interface IngestStub {
  Stream(md: Metadata): DuplexCall;
  Push(req: AnyMessage, md: Metadata, cb: (err: ServiceError | null, res: AnyMessage) => void): void;
  close(): void;
}

function loadClient(address: string): IngestStub {
  const def = loadSync(protoPath, {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = loadPackageDefinition(def) as unknown as {
    aiops: {
      v1: {
        IngestService: new (addr: string, creds: ReturnType<typeof credentials.createInsecure>) => IngestStub;
      };
    };
  };
  return new pkg.aiops.v1.IngestService(address, credentials.createInsecure());
}

/** A minimal agent: one stream, waits for each response in order. */
class MinimalAgent {
  private readonly inbox: AnyMessage[] = [];
  private waiter: (() => void) | undefined;
  error: ServiceError | undefined;
  private readonly call: DuplexCall;

  constructor(stub: IngestStub, token: string) {
    const md = new Metadata();
    md.set('authorization', `Bearer ${token}`); // docs/protocol.md §1
    this.call = stub.Stream(md);
    this.call.on('data', (m) => {
      this.inbox.push(m);
      this.waiter?.();
    });
    this.call.on('error', (e) => {
      this.error = e;
      this.waiter?.();
    });
    this.call.on('end', () => this.waiter?.());
  }

  send(m: AnyMessage): void {
    this.call.write(m);
  }

  async receive(): Promise<AnyMessage> {
    for (;;) {
      const m = this.inbox.shift();
      if (m) return m;
      if (this.error) throw this.error;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  end(): void {
    this.call.end();
  }
}

describe('a third-party agent built from docs/protocol.md and the .proto (proto-loader)', () => {
  let ts: TestStore;
  let server: IngestServer;
  let stub: IngestStub;
  let token: string;

  beforeAll(async () => {
    ts = await openTestStore('pglite');
    token = (await ts.store.enrollmentTokens.create('third-party', 'proto-loader agent')).token;
    server = createIngestServer({ store: ts.store, logger: silentLogger, registry: new Registry() });
    const port = await server.start('127.0.0.1:0');
    stub = loadClient(`127.0.0.1:${port}`);
  }, 180_000);
  afterAll(async () => {
    stub?.close();
    await server?.stop({ timeoutMs: 2000 });
    await ts?.cleanup();
  }, 60_000);

  const hello = {
    agent_id: 'tp-agent-1',
    cluster: 'third-party',
    node: 'edge-3',
    version: 'tp-agent/0.0.1',
    capabilities: ['custom'],
  };

  it('streams Hello and a batch, gets Welcome and an Ack, and the data is stored; a replay is a duplicate', async () => {
    const t = Date.now() - 2000;
    const batch = {
      sequence: 1,
      dropped_before: 0,
      series: [
        {
          ref: 10,
          metric: 'fan_speed_rpm',
          source: 'custom',
          entity: 'fan0',
          labels: [{ name: 'zone', value: 'front' }],
          type: 'METRIC_TYPE_GAUGE',
        },
      ],
      samples: [{ ref: 10, timestamps_ms: [t, t + 1000], values: [4200, 4300] }],
      events: [],
      inventory: [
        {
          observed_ms: t,
          source: 'custom',
          entity: 'fan0',
          kind: 'fan',
          attributes: [],
          absent: false,
          absent_reason: '',
        },
      ],
    };
    const agent = new MinimalAgent(stub, token);
    agent.send({ hello });
    const welcome = await agent.receive();
    expect(welcome.msg).toBe('welcome');
    expect(welcome.welcome).toMatchObject({ last_acked_sequence: 0, window: 8 });
    agent.send({ batch });
    const ack = await agent.receive();
    expect(ack.msg).toBe('ack');
    expect(ack.ack).toMatchObject({
      sequence: 1,
      duplicate: false,
      result: { samples_stored: 2, inventory_stored: 1, rejections: [] },
    });
    agent.end();

    // Reconnect (docs §2, §6): Welcome says 1 is durable; a resend is a duplicate.
    const again = new MinimalAgent(stub, token);
    again.send({ hello });
    expect((await again.receive()).welcome).toMatchObject({ last_acked_sequence: 1 });
    again.send({ batch });
    expect((await again.receive()).ack).toMatchObject({ sequence: 1, duplicate: true });
    again.end();

    const latest = await ts.store.latest({ cluster: 'third-party', metric: 'fan_speed_rpm' });
    expect(latest).toMatchObject([
      {
        value: 4300,
        timestampMs: t + 1000,
        series: { node: 'edge-3', entity: 'fan0', labels: { zone: 'front' } },
      },
    ]);
    const range = await ts.store.queryRange({
      selector: { cluster: 'third-party' },
      startMs: t,
      endMs: t + 2000,
      stepMs: 1000,
      aggregation: 'last',
    });
    expect(range[0]!.points.map((p) => p.value)).toEqual([4200, 4300]);
  });

  it('uses the unary Push with a self-contained batch', async () => {
    const t = Date.now() - 1000;
    const req = {
      hello: { ...hello, agent_id: 'tp-push-1' },
      batch: {
        sequence: 1,
        series: [
          {
            ref: 1,
            metric: 'door_open',
            source: 'custom',
            entity: '',
            labels: [],
            type: 'METRIC_TYPE_GAUGE',
          },
        ],
        samples: [{ ref: 1, timestamps_ms: [t], values: [0] }],
      },
    };
    const push = (r: AnyMessage, tok: string) =>
      new Promise<AnyMessage>((resolve, reject) => {
        const md = new Metadata();
        md.set('authorization', `Bearer ${tok}`);
        stub.Push(r, md, (err, res) => (err ? reject(err) : resolve(res)));
      });
    expect(await push(req, token)).toMatchObject({
      acked_sequence: 1,
      duplicate: false,
      result: { samples_stored: 1 },
    });
    expect(await push(req, token)).toMatchObject({ acked_sequence: 1, duplicate: true });
    await expect(push(req, 'wrong-token')).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
  });
});
