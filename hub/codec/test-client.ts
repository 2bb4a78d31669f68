import { credentials, Metadata, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import {
  IngestServiceClient,
  StreamRequest as PbStreamRequest,
  StreamResponse as PbStreamResponse,
  type Batch,
  type Hello,
  type PushRequest,
  type PushResponse,
  type StreamRequest,
  type StreamResponse,
} from '../../proto/gen/aiops/v1/ingest.js';

export type {
  Batch,
  Hello,
  PushResponse,
  StreamRequest,
  StreamResponse,
} from '../../proto/gen/aiops/v1/ingest.js';
export { MetricType, RejectReason, Severity } from '../../proto/gen/aiops/v1/ingest.js';

/**
 * An agent-side client for tests and the benchmark, on the generated
 * (ts-proto) client. It plays a well-behaved or a misbehaving agent; the
 * production agent has its own sender.
 */
export class TestIngestClient {
  readonly client: IngestServiceClient;

  constructor(address: string, options: Record<string, unknown> = {}) {
    this.client = new IngestServiceClient(address, credentials.createInsecure(), {
      'grpc.max_send_message_length': 64 * 1024 * 1024,
      ...options,
    });
  }

  stream(token: string | undefined): TestStream {
    return new TestStream(this.client.stream(authMetadata(token)));
  }

  push(token: string | undefined, request: Partial<PushRequest>): Promise<PushResponse> {
    return new Promise((resolve, reject) =>
      this.client.push({ hello: undefined, batch: undefined, ...request }, authMetadata(token), (err, res) =>
        err ? reject(err) : resolve(res),
      ),
    );
  }

  /**
   * A stream whose requests are already-encoded bytes (see
   * encodeStreamRequest): the benchmark encodes its batches before timing,
   * and tests send bytes no encoder would produce.
   */
  rawStream(token: string | undefined): ClientDuplexStream<Buffer, StreamResponse> {
    return this.client.makeBidiStreamRequest(
      IngestServiceClient.service.stream.path,
      (b: Buffer) => b,
      (b: Buffer) => PbStreamResponse.decode(b),
      authMetadata(token),
    );
  }

  close(): void {
    this.client.close();
  }
}

export function encodeStreamRequest(req: StreamRequest): Buffer {
  return Buffer.from(PbStreamRequest.encode(req).finish());
}

export function authMetadata(token: string | undefined): Metadata {
  const md = new Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  return md;
}

/** One bidi stream with a queue of received messages and the final status. */
export class TestStream {
  private readonly received: StreamResponse[] = [];
  private waiters: (() => void)[] = [];
  /** The call's final error (non-OK status), once it ended. */
  error: ServiceError | undefined;
  ended = false;

  constructor(readonly call: ClientDuplexStream<StreamRequest, StreamResponse>) {
    call.on('data', (m: StreamResponse) => {
      this.received.push(m);
      this.wake();
    });
    call.on('error', (e: ServiceError) => {
      this.error = e;
      this.ended = true;
      this.wake();
    });
    call.on('end', () => {
      this.ended = true;
      this.wake();
    });
  }

  hello(hello: Partial<Hello> & Pick<Hello, 'agentId' | 'cluster'>): void {
    this.call.write({
      msg: { $case: 'hello', hello: { node: 'node-1', version: 'test/0', capabilities: [], ...hello } },
    });
  }

  batch(batch: Partial<Batch> & Pick<Batch, 'sequence'>): void {
    this.call.write({
      msg: {
        $case: 'batch',
        batch: { droppedBefore: 0, series: [], samples: [], events: [], inventory: [], ...batch },
      },
    });
  }

  /** The next message; rejects with the call's error if it ends first. */
  async next(timeoutMs = 10_000): Promise<StreamResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.received.shift();
      if (m) return m;
      if (this.ended) throw this.error ?? new Error('stream ended without a message');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a stream message');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits for the call to end; resolves with its error (undefined for OK). */
  async finished(timeoutMs = 10_000): Promise<ServiceError | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for the stream to end');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.error;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
