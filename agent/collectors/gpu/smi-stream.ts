import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';

export interface SmiStreamOptions {
  /** Absolute path of nvidia-smi; spawned directly, never through a shell or PATH. */
  readonly executable: string;
  readonly args: readonly string[];
  /** No line for this long while running → hung: killed and restarted. */
  readonly hangTimeoutMs: number;
  /** Allowance for the first line (NVML init is slow when persistence mode is off). */
  readonly startTimeoutMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** Consecutive unparsable lines tolerated before the child is restarted. */
  readonly maxGarbageLines: number;
  readonly logger: Logger;
  /** Called for every stdout line; returns whether it was a valid row. */
  readonly onLine: (line: string, receivedMs: number) => boolean;
  /** Called once per failure (exit, hang, garbage, spawn error) with a human-readable reason. */
  readonly onFailure: (reason: string) => void;
  readonly now: () => number;
}

/**
 * Keeps one long-running `nvidia-smi --query-gpu … -lms N` child alive and
 * feeds its lines to `onLine`. Restarts it with exponential backoff when it
 * exits, hangs (no line within the deadline) or prints garbage; a valid line
 * resets the backoff, so a single crash costs one restart delay.
 */
export class SmiStream {
  private child: ChildProcess | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failures = 0;
  private garbage = 0;
  private killReason: string | undefined;
  private stderrTail = '';
  restarts = 0;
  /** Lines accepted since start (diagnostics). */
  rows = 0;

  constructor(private readonly options: SmiStreamOptions) {}

  start(): void {
    this.stopped = false;
    this.spawnChild();
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  private spawnChild(): void {
    if (this.stopped) return;
    const o = this.options;
    this.killReason = undefined;
    this.garbage = 0;
    this.stderrTail = '';
    const child = spawn(o.executable, [...o.args], {
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    this.child = child;
    this.arm(o.startTimeoutMs);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-512);
    });
    const lines = createInterface({ input: child.stdout!, crlfDelay: Infinity });
    lines.on('line', (line) => {
      if (this.child !== child || line.trim() === '') return;
      // Any line proves the child alive (the hang deadline); only valid rows reset the backoff.
      this.arm(o.hangTimeoutMs);
      if (o.onLine(line, o.now())) {
        this.rows += 1;
        this.garbage = 0;
        this.failures = 0;
      } else if (++this.garbage > o.maxGarbageLines) {
        this.kill(
          child,
          `printed ${this.garbage} unparsable lines in a row, last: ${JSON.stringify(line.slice(0, 200))}`,
        );
      }
    });
    child.on('error', (error) => {
      // spawn failure (ENOENT, EACCES): 'exit' may not follow, so settle here.
      if (this.child !== child) return;
      this.settle(child, `could not be started: ${error.message}`);
    });
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const stderr = this.stderrTail.trim();
      this.settle(child, this.killReason ?? `${how}${stderr ? `: ${stderr.slice(-200)}` : ''}`);
    });
  }

  private arm(ms: number): void {
    clearTimeout(this.deadline);
    const child = this.child;
    this.deadline = setTimeout(() => {
      if (child && this.child === child) this.kill(child, `hung: no line within ${ms} ms`);
    }, ms);
    this.deadline.unref();
  }

  private kill(child: ChildProcess, reason: string): void {
    if (this.killReason) return;
    this.killReason = reason;
    child.kill('SIGKILL');
  }

  private settle(child: ChildProcess, reason: string): void {
    clearTimeout(this.deadline);
    this.child = undefined;
    child.stdout?.destroy();
    child.stderr?.destroy();
    if (this.stopped) return;
    this.failures += 1;
    const o = this.options;
    // The first failure after a good run restarts at once (recovery within two intervals); repeated
    // failures back off exponentially so a broken driver is not hammered.
    const delayMs =
      this.failures === 1 ? 0 : Math.min(o.backoffMaxMs, o.backoffInitialMs * 2 ** (this.failures - 2));
    o.logger.warn({ reason, delayMs, failures: this.failures }, 'nvidia-smi stream failed; restarting');
    o.onFailure(reason);
    this.restartTimer = setTimeout(() => {
      this.restarts += 1;
      this.spawnChild();
    }, delayMs);
    this.restartTimer.unref();
  }

  /** Kills the child and cancels restarts; safe to call twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.deadline);
    clearTimeout(this.restartTimer);
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 2_000).unref();
    });
  }
}
