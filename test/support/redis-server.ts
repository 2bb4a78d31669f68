import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';

/**
 * Why a private redis-server cannot be started here (undefined when it can):
 * tests that stop Redis on purpose run their own, so the machine's shared
 * Redis (AIOPS_TEST_REDIS_URL) is never disturbed.
 */
export const redisServerMissing: string | undefined = (() => {
  const r = spawnSync('redis-server', ['--version']);
  return r.status === 0 ? undefined : 'redis-server is not on PATH (Debian: apt-get install redis-server)';
})();

/**
 * A redis-server child process on a loopback port of its own, without
 * persistence. stop() kills it as a crash would (SIGKILL); start() brings it
 * back on the same port.
 */
export class PrivateRedis {
  private child: ChildProcess | undefined;
  private log = '';

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(readyTimeoutMs = 15_000): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.start(readyTimeoutMs);
    return redis;
  }

  async start(readyTimeoutMs = 15_000): Promise<void> {
    if (this.child) throw new Error(`redis-server on port ${this.port} is already running`);
    this.log = '';
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    // redis-server logs to stdout; keep the tail for the error message if it dies.
    const keep = (d: Buffer): void => {
      this.log = (this.log + d.toString()).slice(-4000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        this.child = undefined;
        throw new Error(`redis-server on port ${this.port} exited (${child.exitCode}): ${this.log}`);
      }
      if (await ping(this.port)) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`redis-server on port ${this.port} did not answer PING within ${readyTimeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Kills the server (no shutdown handshake, like a crash) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

/** A port that was free on loopback a moment ago (the server binds it right after). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** One RESP PING over a fresh connection: true on +PONG, false on any failure within 1 s. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 1000);
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      reply += d.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}
