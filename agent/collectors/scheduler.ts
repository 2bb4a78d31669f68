import type { Logger } from 'pino';
import type { Collection, Sample, SeriesKey } from '../model/telemetry.js';
import type { AgentMetrics } from '../ops/metrics.js';
import type { Collector } from './collector.js';

/** One collector with its schedule. */
export interface ScheduledCollector {
  readonly collector: Collector;
  readonly intervalMs: number;
  /** A run still going after this is aborted (its AbortSignal fires) and counted as failed. */
  readonly timeoutMs: number;
}

/** Outcome of one run, also what `collect --once` prints. */
export type RunOutcome =
  | { readonly status: 'ok'; readonly collection: Collection; readonly durationMs: number }
  | {
      readonly status: 'absent';
      readonly collection: Collection;
      readonly durationMs: number;
      readonly reason: string;
    }
  | {
      readonly status: 'failed';
      readonly error: Error;
      readonly durationMs: number;
      readonly timedOut: boolean;
    };

export interface SchedulerOptions {
  readonly collectors: readonly ScheduledCollector[];
  /** Receives every run's collection plus the agent's health samples for that run. */
  readonly sink: (collection: Collection) => void;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** Per-collector health, for /healthz. */
export interface CollectorHealth {
  readonly name: string;
  /** `disabled`: turned off by the hub's collector configuration. */
  readonly state: 'starting' | 'ok' | 'absent' | 'failing' | 'disabled';
  readonly intervalMs: number;
  readonly lastError?: string;
  readonly runs: number;
  readonly errors: number;
}

class TimeoutError extends Error {}

interface Slot {
  readonly sc: ScheduledCollector;
  /** The interval in force (the hub may change it); sc.intervalMs is the local one. */
  intervalMs: number;
  enabled: boolean;
  /** When the last run began (the cadence is kept from it). */
  lastBegin: number;
  started: boolean;
  /** The run in progress; a run ignoring its signal keeps this set so we never overlap it. */
  running: Promise<RunOutcome> | undefined;
  timer: NodeJS.Timeout | undefined;
  runs: number;
  errors: number;
  state: CollectorHealth['state'];
  lastError: string | undefined;
  /** Logged once per state change, not per run. */
  lastLoggedState: CollectorHealth['state'] | undefined;
}

/**
 * Runs each collector at its interval with a timeout, never overlapping a
 * collector with itself (a tick that finds the previous run still going is
 * skipped), and reports each run's health as data: `agent_collector_up`,
 * `agent_collector_duration_seconds` and `agent_collector_errors_total`
 * (source `agent`, label `collector`) both into the stream and on /metrics.
 */
export class Scheduler {
  private readonly slots: Slot[];
  private readonly now: () => number;
  private stopped = false;

  constructor(private readonly options: SchedulerOptions) {
    this.now = options.now ?? Date.now;
    this.slots = options.collectors.map((sc) => ({
      sc,
      intervalMs: sc.intervalMs,
      enabled: true,
      lastBegin: 0,
      started: false,
      running: undefined,
      timer: undefined,
      runs: 0,
      errors: 0,
      state: 'starting',
      lastError: undefined,
      lastLoggedState: undefined,
    }));
  }

  /** Starts the periodic loops; the first run of each collector happens at once. */
  start(): void {
    for (const slot of this.slots) this.loop(slot);
  }

  /** Runs every collector once, in parallel, and returns the outcomes (the debug command). */
  async runAllOnce(): Promise<Map<string, RunOutcome>> {
    const entries = await Promise.all(
      this.slots.map(async (slot) => [slot.sc.collector.name, await this.runSlot(slot)] as const),
    );
    return new Map(entries);
  }

  /**
   * Applies a collector's settings while running (hub-pushed configuration):
   * a disabled collector stops being run (a run in progress finishes); a new
   * interval takes effect from the last run's start. Returns false for an
   * unknown collector.
   */
  reconfigure(name: string, settings: { readonly enabled: boolean; readonly intervalMs: number }): boolean {
    const slot = this.slots.find((s) => s.sc.collector.name === name);
    if (!slot) return false;
    const wasEnabled = slot.enabled;
    slot.enabled = settings.enabled;
    slot.intervalMs = settings.intervalMs;
    if (this.stopped) return true;
    clearTimeout(slot.timer);
    slot.timer = undefined;
    if (!slot.enabled) {
      if (wasEnabled) {
        slot.state = 'disabled';
        slot.lastLoggedState = 'disabled';
        // No stale "up" for a collector that no longer runs.
        this.options.metrics.collectorUp.remove({ collector: name });
        this.options.metrics.collectorDurationSeconds.remove({ collector: name });
      }
      return true;
    }
    if (!wasEnabled) {
      slot.state = 'starting';
      this.loop(slot);
      return true;
    }
    this.schedule(slot);
    return true;
  }

  health(): CollectorHealth[] {
    return this.slots.map((s) => ({
      name: s.sc.collector.name,
      state: s.state,
      intervalMs: s.intervalMs,
      runs: s.runs,
      errors: s.errors,
      ...(s.lastError === undefined ? {} : { lastError: s.lastError }),
    }));
  }

  /** Stops the loops, waits for runs in progress (bounded by their timeouts) and stops the collectors. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const slot of this.slots) clearTimeout(slot.timer);
    await Promise.allSettled(this.slots.map((s) => s.running ?? Promise.resolve()));
    await Promise.allSettled(this.slots.map((s) => s.sc.collector.stop()));
  }

  private loop(slot: Slot): void {
    if (this.stopped || !slot.enabled) return;
    slot.lastBegin = this.now();
    const run = this.runSlot(slot);
    void run.then(() => {
      // A reconfigure() meanwhile may have scheduled or disabled the slot.
      if (slot.timer === undefined) this.schedule(slot);
    });
  }

  /**
   * Keeps the cadence: the next run starts one interval after the last one
   * began, or at once when that is already past (a tick that finds the
   * previous run still going is skipped by runSlot).
   */
  private schedule(slot: Slot): void {
    if (this.stopped || !slot.enabled) return;
    const delayMs = Math.max(0, slot.lastBegin + slot.intervalMs - this.now());
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      this.loop(slot);
    }, delayMs);
    slot.timer.unref?.();
  }

  private runSlot(slot: Slot): Promise<RunOutcome> {
    if (slot.running) return slot.running;
    const run = this.execute(slot);
    slot.running = run;
    // Cleared only when the collector's own promise settles (inside execute).
    return run;
  }

  private async execute(slot: Slot): Promise<RunOutcome> {
    const { collector, timeoutMs } = slot.sc;
    const startedAt = performance.now();
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort(new TimeoutError(`collector ${collector.name} timed out after ${timeoutMs} ms`));
        reject(controller.signal.reason as Error);
      }, timeoutMs);
    });
    const work = (async () => {
      if (!slot.started) {
        await collector.start();
        slot.started = true;
      }
      return collector.collect(controller.signal);
    })();
    // A collector that ignores its signal keeps `running` set until it
    // finally settles, so the scheduler never runs it twice at once.
    work.then(
      () => (slot.running = undefined),
      () => (slot.running = undefined),
    );
    let outcome: RunOutcome;
    try {
      const collection = await Promise.race([work, timeout]);
      const durationMs = performance.now() - startedAt;
      const absent = collection.inventory.find((i) => i.absent && i.kind === 'collector');
      outcome = absent
        ? { status: 'absent', collection, durationMs, reason: absent.absentReason ?? 'absent' }
        : { status: 'ok', collection, durationMs };
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      outcome = {
        status: 'failed',
        error,
        durationMs: performance.now() - startedAt,
        timedOut: error instanceof TimeoutError,
      };
    } finally {
      clearTimeout(timer);
    }
    this.record(slot, outcome);
    return outcome;
  }

  private record(slot: Slot, outcome: RunOutcome): void {
    const name = slot.sc.collector.name;
    const m = this.options.metrics;
    slot.runs += 1;
    const up = outcome.status === 'failed' ? 0 : 1;
    if (outcome.status === 'failed') {
      slot.errors += 1;
      slot.state = 'failing';
      slot.lastError = outcome.error.message;
      m.collectorErrorsTotal.inc({ collector: name });
      if (outcome.timedOut) m.collectorTimeoutsTotal.inc({ collector: name });
    } else {
      slot.state = outcome.status === 'absent' ? 'absent' : 'ok';
      slot.lastError = undefined;
    }
    // A run that finished after the hub disabled its collector: the data is
    // kept, the collector stays reported as disabled.
    if (!slot.enabled) slot.state = 'disabled';
    if (slot.state !== slot.lastLoggedState) {
      const log = this.options.logger;
      const fields = { collector: name, state: slot.state, error: slot.lastError };
      if (slot.state === 'failing') log.warn(fields, 'collector failing');
      else log.info(fields, 'collector state');
      slot.lastLoggedState = slot.state;
    }
    if (slot.enabled) {
      m.collectorUp.set({ collector: name }, up);
      m.collectorDurationSeconds.set({ collector: name }, outcome.durationMs / 1000);
    }
    // Touch the counter so it is exported (as 0) before the first error.
    m.collectorErrorsTotal.inc({ collector: name }, 0);
    const base =
      outcome.status === 'failed' ? { samples: [], events: [], inventory: [] } : outcome.collection;
    m.samplesCollectedTotal.inc({ collector: name }, base.samples.length);
    const ts = this.now();
    const health: Sample[] = [
      healthSample('agent_collector_up', 'gauge', name, ts, up),
      healthSample('agent_collector_duration_seconds', 'gauge', name, ts, outcome.durationMs / 1000),
      healthSample('agent_collector_errors_total', 'counter', name, ts, slot.errors),
    ];
    if (this.stopped && outcome.status === 'failed') return;
    this.options.sink({
      samples: base.samples.length === 0 ? health : [...base.samples, ...health],
      events: base.events,
      inventory: base.inventory,
    });
  }
}

function healthSample(
  metric: string,
  kind: SeriesKey['kind'],
  collector: string,
  timestampMs: number,
  value: number,
): Sample {
  return { series: { metric, source: 'agent', entity: '', labels: { collector }, kind }, timestampMs, value };
}
