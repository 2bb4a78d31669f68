import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';

export interface SmiStreamOptions {
  /** Absolute path of nvidia-smi; spawned directly, never through a shell or PATH. */
  readonly executable: string;
  readonly args: readonly string[];
  /** The child's `-lms` interval: lines come every interval plus the query's own duration. */
  readonly intervalMs: number;
  /**
   * Longest hang deadline: used until the line cadence has been observed and while `holdDeadline()` is
   * in force; the adaptive deadline never exceeds it.
   */
  readonly hangTimeoutMs: number;
  /** Added to the longest observed silence between lines to make the adaptive hang deadline. */
  readonly hangMarginMs: number;
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
/** Silences remembered for the adaptive deadline: about this many cycles of the query loop. */
const cadenceWindow = 32;
/** Durations of our own nvidia-smi calls remembered for the held deadline. */
const callWindow = 16;
/** After SIGTERM on stop, SIGKILL follows this much later. */
const stopTermGraceMs = 2_000;
/** A child counts as healthy (the backoff is reset) once it has printed valid rows for this many intervals. */
const healthyIntervals = 3;

/**
 * A child that missed the adaptive deadline, kept alive while its replacement starts beside it: it may
 * only be slow. Its own per-child state is kept here while the replacement is the current child.
 */
interface Suspect {
  readonly child: ChildProcess;
  readonly lastLineAt: number;
  readonly garbage: number;
  readonly validSince: number | undefined;
  stderrTail: string;
  readonly heldDuringSilence: boolean;
  /** The hang it is reported with if the replacement wins. */
  readonly reason: string;
  /** Fires at the longest deadline: then it is hung whatever the replacement does. */
  readonly timer: NodeJS.Timeout;
}

/** A killed child we still wait for: `gone` resolves on its 'exit' or when it is abandoned. */
interface Dying {
  readonly timer: NodeJS.Timeout;
  readonly gone: Promise<void>;
  readonly release: () => void;
}

/**
 * Keeps one long-running `nvidia-smi --query-gpu … -lms N` child alive and
 * feeds its lines to `onLine`. Restarts it when it exits, hangs (no line
 * within the deadline) or prints garbage: at once after a healthy run (valid
 * rows for `healthyIntervals` intervals reset the count), with exponential
 * backoff for repeated failures.
 *
 * The hang deadline adapts to the child's observed line cadence: `-lms N`
 * sleeps N ms after each query, so lines come every N ms plus the query's own
 * duration, which depends on the machine (GPU count, driver, persistence
 * mode). The deadline is the longest silence between two cycles in the last
 * `cadenceWindow` cycles (at least the interval) plus `hangMarginMs`, at most
 * `hangTimeoutMs`. Until a silence has been observed the deadline is
 * `hangTimeoutMs`. While our own one-shot nvidia-smi calls run
 * (`holdDeadline`: they contend for the same driver and can slow the stream's
 * query) it is the adaptive deadline + the longest of our recent calls, at
 * most `hangTimeoutMs` (which also applies before any call has been timed).
 *
 * A child silent past the adaptive deadline is not killed at once: a
 * replacement is started beside it, and whichever prints first wins. If the
 * old child prints first it was only slow (a load spike): the replacement is
 * killed, nothing is reported, and the long silence is learned. If the
 * replacement prints a valid row first, the old child is killed and reported
 * hung; an unparsable line from the replacement (an nvidia-smi error message)
 * is counted but decides nothing. So a
 * slow cycle costs no restart and the samples never wait longer than the
 * faster of the two; an old child still silent at `hangTimeoutMs` is hung
 * regardless.
 *
 * A child this class kills is reported failed and replaced at once, without
 * waiting for its 'exit': a hung nvidia-smi is typically blocked in the driver
 * and may exit late or never. Such a child is waited for `killGraceMs` at most,
 * then abandoned and counted (`abandoned`).
 */
export class SmiStream {
  private child: ChildProcess | undefined;
  private deadline: NodeJS.Timeout | undefined;
  /** performance.now() at which the armed check fires. */
  private deadlineDueAt = Infinity;
  /** performance.now() of the current child's spawn or last line: the silence is measured from here. */
  private lastLineAt = 0;
  private spawnedAt = 0;
  private sawLine = false;
  /** Recent silences between cycles (ms), across children: the cadence is the machine's, not the child's. */
  private readonly silences: number[] = [];
  private holds = 0;
  /** Recent durations (ms) of our own nvidia-smi calls (`holdDeadline` to its release). */
  private readonly callDurations: number[] = [];
  /** A hold was in force at some point of the current silence: it says nothing about the cadence. */
  private heldDuringSilence = false;
  /** The previous child, silent past the adaptive deadline, racing the current (replacement) child. */
  private suspect: Suspect | undefined;
  /** A replacement started beside this child failed: its next verdict is at the longest deadline. */
  private ceilingOnly = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failures = 0;
  private garbage = 0;
  /** performance.now() of the current child's first valid row; undefined until it prints one. */
  private validSince: number | undefined;
  private killReason: string | undefined;
  private stderrTail = '';
  private readonly dying = new Map<ChildProcess, Dying>();
  restarts = 0;
  /** Killed children that had not exited after `killGraceMs` and were given up on. */
  abandoned = 0;
  /** Lines accepted since start (diagnostics). */
  rows = 0;
  /** Spawn to first line of the latest child that printed one, in ms (diagnostics). */
  lastStartUpMs: number | undefined;
  /** Silences past the adaptive deadline after which the old child printed before its replacement. */
  slowCycles = 0;

  constructor(private readonly options: SmiStreamOptions) {}

  start(): void {
    this.stopped = false;
    this.spawnChild();
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** A child is being started and has printed no line yet. */
  get starting(): boolean {
    return this.child !== undefined && !this.sawLine;
  }

  /**
   * The hang deadline in force once a child has printed its first line, in ms. While our own call runs it
   * is the adaptive deadline + the longest of our recent calls (a cycle can be slowed by about that much),
   * at most `hangTimeoutMs`; before any call of ours has been timed, `hangTimeoutMs`.
   */
  get hangDeadlineMs(): number {
    const o = this.options;
    if (this.silences.length === 0) return o.hangTimeoutMs;
    if (this.holds > 0 && this.callDurations.length === 0) return o.hangTimeoutMs;
    const cadence = Math.max(o.intervalMs, ...this.silences);
    const held = this.holds > 0 ? Math.max(...this.callDurations) : 0;
    return Math.min(o.hangTimeoutMs, Math.ceil(cadence + o.hangMarginMs + held));
  }

  /**
   * Relaxes the hang deadline until the returned function is called (once): to the adaptive deadline + the
   * longest of our recent calls, at most `hangTimeoutMs` (see hangDeadlineMs). For our own one-shot
   * nvidia-smi calls (`-q -x` takes seconds on big servers): they contend with the stream's query for the
   * driver, and a cycle slowed by about that much is not a hang. The call's duration is recorded on release.
   */
  holdDeadline(): () => void {
    this.holds += 1;
    this.heldDuringSilence = true;
    const heldAt = performance.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds -= 1;
      // How long our call took bounds how much a later call may slow a cycle (see hangDeadlineMs).
      this.callDurations.push(performance.now() - heldAt);
      if (this.callDurations.length > callWindow) this.callDurations.shift();
      // The tighter deadline applies again now: check it at once rather than at the relaxed timer.
      if (this.holds === 0 && this.child && this.sawLine) this.armCheck(0);
    };
  }

  private spawnChild(): void {
    if (this.stopped) return;
    const o = this.options;
    this.killReason = undefined;
    this.garbage = 0;
    this.validSince = undefined;
    this.stderrTail = '';
    const child = (o.spawn ?? spawn)(o.executable, [...o.args], {
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    this.child = child;
    this.spawnedAt = performance.now();
    this.lastLineAt = this.spawnedAt;
    this.sawLine = false;
    this.ceilingOnly = false;
    this.heldDuringSilence = this.holds > 0;
    this.armCheck(o.startTimeoutMs);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      if (this.child === child) this.stderrTail = (this.stderrTail + chunk).slice(-512);
      else if (this.suspect?.child === child)
        this.suspect.stderrTail = (this.suspect.stderrTail + chunk).slice(-512);
    });
    const lines = createInterface({ input: child.stdout!, crlfDelay: Infinity });
    lines.on('line', (line) => {
      if (line.trim() === '') return;
      if (this.suspect?.child === child) this.onlySlow();
      if (this.child !== child) return;
      const valid = o.onLine(line, o.now());
      if (this.suspect) {
        // The replacement races the silent old child. Only a valid row proves the replacement works: an
        // nvidia-smi error message on stdout ("Unable to determine the device handle…") is no reason to
        // kill the old child, which may only be slow. Such a line is counted but kills nothing while the
        // old child lives; the old child's longest deadline decides.
        if (!valid) {
          this.garbage += 1;
          return;
        }
        this.replaceSuspect(this.suspect.reason, true);
      }
      // Any line proves the child alive (the hang deadline); only valid rows count towards a healthy run.
      this.noteLine();
      if (valid) {
        this.rows += 1;
        this.garbage = 0;
        const at = performance.now();
        this.validSince ??= at;
        // A healthy run resets the backoff, but only after valid rows for `healthyIntervals` intervals: a
        // child that prints one row and dies is restarted with backoff, not at once forever.
        if (at - this.validSince >= healthyIntervals * o.intervalMs) this.failures = 0;
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
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      if (this.suspect?.child === child) {
        // The old child died while its replacement starts: a failure, already being replaced.
        const stderr = this.suspect.stderrTail.trim();
        this.replaceSuspect(`${how}${stderr ? `: ${stderr.slice(-200)}` : ''}`, false);
        return;
      }
      if (this.child !== child) return;
      const stderr = this.stderrTail.trim();
      this.settle(child, `${how}${stderr ? `: ${stderr.slice(-200)}` : ''}`);
    });
  }

  /**
   * The current child missed the adaptive deadline: keep it as the suspect and start its replacement
   * beside it; the first of the two to print wins (see the class comment).
   */
  private hedge(child: ChildProcess, reason: string): void {
    const o = this.options;
    const leftMs = Math.max(0, o.hangTimeoutMs - (performance.now() - this.lastLineAt));
    const timer = setTimeout(() => {
      if (this.suspect?.child !== child) return;
      this.replaceSuspect(
        `hung: no line within ${o.hangTimeoutMs} ms (longest deadline; its replacement had printed nothing either)`,
        true,
      );
    }, leftMs);
    timer.unref();
    this.suspect = {
      child,
      lastLineAt: this.lastLineAt,
      garbage: this.garbage,
      validSince: this.validSince,
      stderrTail: this.stderrTail,
      heldDuringSilence: this.heldDuringSilence,
      reason,
      timer,
    };
    o.logger.info(
      { pid: child.pid, reason },
      'nvidia-smi silent past its deadline; starting a replacement beside it',
    );
    this.spawnChild();
  }

  /** The suspect printed before its replacement: it was only slow. The replacement goes, it stays. */
  private onlySlow(): void {
    const s = this.suspect as Suspect;
    this.suspect = undefined;
    clearTimeout(s.timer);
    const replacement = this.child;
    if (replacement) this.discard(replacement);
    this.child = s.child;
    this.sawLine = true;
    this.lastLineAt = s.lastLineAt;
    this.garbage = s.garbage;
    this.validSince = s.validSince;
    this.stderrTail = s.stderrTail;
    this.heldDuringSilence = s.heldDuringSilence;
    this.killReason = undefined;
    this.armCheck(this.allowedSilenceMs() - (performance.now() - this.lastLineAt));
    this.slowCycles += 1;
    this.options.logger.info(
      { pid: s.child.pid, silenceMs: Math.round(performance.now() - s.lastLineAt) },
      'nvidia-smi was only slow: it printed before its replacement, which was stopped',
    );
  }

  /**
   * The suspect is done for (hung: the replacement printed first or the longest deadline passed; or it
   * exited): reported as one failure; the replacement, already started, carries on.
   */
  private replaceSuspect(reason: string, kill: boolean): void {
    const s = this.suspect as Suspect;
    this.suspect = undefined;
    clearTimeout(s.timer);
    if (kill) this.discard(s.child);
    this.failures += 1;
    this.restarts += 1;
    this.options.logger.warn(
      { reason, pid: s.child.pid },
      'nvidia-smi stream failed; replaced by the child started beside it',
    );
    this.options.onFailure(reason);
  }

  /** SIGKILLs a child that is no longer ours and stops reading it; its 'exit' is awaited at most killGraceMs. */
  private discard(child: ChildProcess): void {
    this.sendSignal(child, 'SIGKILL');
    this.watchDying(child);
    child.stdout?.destroy();
    child.stderr?.destroy();
  }

  /** Records a line of the current child: the silence it ends feeds the adaptive deadline. */
  private noteLine(): void {
    const at = performance.now();
    if (!this.sawLine) {
      this.sawLine = true;
      this.lastStartUpMs = Math.round(at - this.spawnedAt);
    } else {
      const silence = at - this.lastLineAt;
      // Lines of one cycle (one per GPU) come in a burst; only the silence between cycles is the cadence.
      // A silence during our own nvidia-smi call is contention, not the machine's cadence.
      if (silence >= this.options.intervalMs / 2 && !this.heldDuringSilence) {
        this.silences.push(silence);
        if (this.silences.length > cadenceWindow) this.silences.shift();
      }
    }
    this.lastLineAt = at;
    this.heldDuringSilence = this.holds > 0;
    // The check armed for a longer allowance (the start-up's, or before the cadence was known) would come
    // late: bring it forward. Otherwise the armed check stays and re-arms itself for the remainder.
    const allowed = this.allowedSilenceMs();
    if (this.deadlineDueAt > at + allowed) this.armCheck(allowed);
  }

  /**
   * Checks the current child's silence `inMs` from now. The timer is armed at spawn and re-armed only when
   * it fires (not on every line): a line moves `lastLineAt`, the check re-arms for the remainder.
   */
  private armCheck(inMs: number): void {
    clearTimeout(this.deadline);
    const child = this.child;
    this.deadlineDueAt = performance.now() + Math.max(0, inMs);
    this.deadline = setTimeout(() => this.check(child), Math.max(0, inMs));
    this.deadline.unref();
  }

  private allowedSilenceMs(): number {
    if (!this.sawLine) return this.options.startTimeoutMs;
    return this.ceilingOnly ? this.options.hangTimeoutMs : this.hangDeadlineMs;
  }

  private check(child: ChildProcess | undefined): void {
    this.deadlineDueAt = Infinity;
    if (!child || this.child !== child) return;
    const remaining = this.allowedSilenceMs() - (performance.now() - this.lastLineAt);
    if (remaining > 0) {
      this.armCheck(remaining);
      return;
    }
    // Timers run before I/O in the event loop: after a stall of ours, the child's next line may already
    // sit in the pipe. setImmediate runs after the I/O phase, so such a line is read before the verdict.
    setImmediate(() => {
      if (this.child !== child) return;
      const allowed = this.allowedSilenceMs();
      const silence = performance.now() - this.lastLineAt;
      if (silence < allowed) {
        this.armCheck(allowed - silence);
        return;
      }
      if (!this.sawLine) {
        this.kill(child, `hung: no line within ${allowed} ms of start`);
        return;
      }
      const reason = `hung: no line within ${allowed} ms (${this.deadlineBasis()})`;
      // Past the longest deadline it is hung whatever; past the adaptive one it may only be slow.
      if (allowed < this.options.hangTimeoutMs && !this.suspect) this.hedge(child, reason);
      else this.kill(child, reason);
    });
  }

  private deadlineBasis(): string {
    const o = this.options;
    if (this.ceilingOnly) return 'longest deadline: a replacement started beside it had failed';
    if (this.holds > 0 && (this.silences.length === 0 || this.callDurations.length === 0))
      return 'longest deadline: our own nvidia-smi call was running';
    if (this.silences.length === 0) return 'longest deadline: cadence not yet observed';
    const cadence = Math.round(Math.max(o.intervalMs, ...this.silences));
    const call = this.holds > 0 ? Math.round(Math.max(...this.callDurations)) : 0;
    const basis =
      `observed cadence ${cadence} ms + margin ${o.hangMarginMs} ms` +
      (this.holds > 0 ? ` + our own nvidia-smi call (running, recent ones up to ${call} ms)` : '');
    return cadence + o.hangMarginMs + call > o.hangTimeoutMs ? `longest deadline: ${basis} is more` : basis;
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
    const s = this.suspect;
    if (s) {
      // The replacement failed before printing while the old child is still there, silent or slow: the
      // replacement's failure is reported, and the old child is current again, judged at the longest
      // deadline (no second replacement beside it, so a broken driver is not hammered).
      this.suspect = undefined;
      clearTimeout(s.timer);
      this.failures += 1;
      this.options.logger.warn(
        { reason },
        'nvidia-smi replacement failed; keeping the silent child until the longest deadline',
      );
      this.options.onFailure(`replacement ${reason}`);
      this.child = s.child;
      this.sawLine = true;
      this.lastLineAt = s.lastLineAt;
      this.garbage = s.garbage;
      this.validSince = s.validSince;
      this.stderrTail = s.stderrTail;
      this.heldDuringSilence = s.heldDuringSilence;
      this.killReason = undefined;
      this.ceilingOnly = true;
      this.armCheck(0);
      return;
    }
    this.failures += 1;
    const o = this.options;
    // The first failure after a healthy run (valid rows for `healthyIntervals` intervals) restarts at
    // once (recovery within two intervals); repeated failures back off exponentially so a broken driver
    // is not hammered.
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
    const s = this.suspect;
    this.suspect = undefined;
    if (s) {
      // Already judged silent past its deadline: no SIGTERM grace.
      clearTimeout(s.timer);
      this.discard(s.child);
    }
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
