import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
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
  /**
   * How long a killed child may take to exit before it is abandoned (no longer waited for, counted in
   * `abandoned`). A hung nvidia-smi is often stuck in the driver in uninterruptible sleep, where even
   * SIGKILL takes effect only when the driver call returns — possibly never. Default 5000.
   */
  readonly killGraceMs?: number;
  /** Spawns the child; `node:child_process.spawn` unless a test injects another. */
  readonly spawn?: (executable: string, args: string[], options: SpawnOptions) => ChildProcess;
}

const defaultKillGraceMs = 5_000;
/** After SIGTERM on stop, SIGKILL follows this much later. */
const stopTermGraceMs = 2_000;

/** A killed child we still wait for: `gone` resolves on its 'exit' or when it is abandoned. */
interface Dying {
  readonly timer: NodeJS.Timeout;
  readonly gone: Promise<void>;
  readonly release: () => void;
}

/**
 * Keeps one long-running `nvidia-smi --query-gpu … -lms N` child alive and
 * feeds its lines to `onLine`. Restarts it with exponential backoff when it
 * exits, hangs (no line within the deadline) or prints garbage; a valid line
 * resets the backoff, so a single crash costs one restart delay.
 *
 * A child this class kills is reported failed and replaced at once, without
 * waiting for its 'exit': a hung nvidia-smi is typically blocked in the driver
 * and may exit late or never. Such a child is waited for `killGraceMs` at most,
 * then abandoned and counted (`abandoned`).
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
  private readonly dying = new Map<ChildProcess, Dying>();
  restarts = 0;
  /** Killed children that had not exited after `killGraceMs` and were given up on. */
  abandoned = 0;
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
    const child = (o.spawn ?? spawn)(o.executable, [...o.args], {
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
      this.dying.get(child)?.release();
      if (this.child !== child) return;
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const stderr = this.stderrTail.trim();
      this.settle(child, `${how}${stderr ? `: ${stderr.slice(-200)}` : ''}`);
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

  /** SIGKILLs the child and settles now: failure reported, restart scheduled, 'exit' not awaited. */
  private kill(child: ChildProcess, reason: string): void {
    if (this.killReason !== undefined || this.child !== child) return;
    this.killReason = reason;
    this.sendSignal(child, 'SIGKILL');
    this.watchDying(child);
    this.settle(child, reason);
  }

  private sendSignal(child: ChildProcess, signal: NodeJS.Signals): void {
    try {
      child.kill(signal);
    } catch {
      // Already reaped: nothing left to signal.
    }
  }

  /** Waits at most `killGraceMs` for a killed child's 'exit'; then abandons it and says so. */
  private watchDying(child: ChildProcess): Dying | undefined {
    const existing = this.dying.get(child);
    if (existing) return existing;
    if (child.exitCode !== null || child.signalCode !== null) return undefined;
    const graceMs = this.options.killGraceMs ?? defaultKillGraceMs;
    let release!: () => void;
    const gone = new Promise<void>((resolve) => {
      release = () => {
        clearTimeout(timer);
        this.dying.delete(child);
        resolve();
      };
    });
    const timer = setTimeout(() => {
      this.abandoned += 1;
      // Not waited for any more: an unkillable child must not keep the agent's event loop alive.
      child.unref();
      child.stdout?.destroy();
      child.stderr?.destroy();
      this.options.logger.error(
        { pid: child.pid, graceMs, abandoned: this.abandoned },
        'nvidia-smi did not exit after SIGKILL (stuck in the driver?); abandoned',
      );
      release();
    }, graceMs);
    timer.unref();
    const dying: Dying = { timer, gone, release };
    this.dying.set(child, dying);
    return dying;
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

  /**
   * Kills the child and cancels restarts; safe to call twice. Resolves when every child has exited, or
   * at most SIGTERM + 2 s + SIGKILL + `killGraceMs` later (the child is then abandoned): agent
   * shutdown is never held by a child stuck in the driver.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.deadline);
    clearTimeout(this.restartTimer);
    const child = this.child;
    this.child = undefined;
    const waits = [...this.dying.values()].map((d) => d.gone);
    if (child && child.exitCode === null && child.signalCode === null) {
      waits.push(
        new Promise<void>((resolve) => {
          const term = setTimeout(() => {
            this.sendSignal(child, 'SIGKILL');
            const dying = this.watchDying(child);
            if (dying) void dying.gone.then(resolve);
            else resolve();
          }, stopTermGraceMs);
          term.unref();
          child.once('exit', () => {
            clearTimeout(term);
            resolve();
          });
          this.sendSignal(child, 'SIGTERM');
        }),
      );
    }
    await Promise.all(waits);
  }
}
