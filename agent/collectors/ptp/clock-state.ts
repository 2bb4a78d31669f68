/**
 * Clock state of a time receiver (a ptp4l instance with a port that follows a
 * master), with OpenShift linuxptp-daemon compatible semantics and defaults
 * (maxOffsetThreshold 100 ns, minOffsetThreshold -100 ns, holdOverTimeout 5 s),
 * except that HOLDOVER is its own value instead of being reported like FREERUN.
 *
 * - LOCKED: the grandmaster is present, a port is SLAVE and the offset lies in
 *   [minOffsetThresholdNs, maxOffsetThresholdNs].
 * - HOLDOVER: the clock was LOCKED and the grandmaster went away; lasts at most
 *   holdoverTimeoutMs, ends early when the lock comes back.
 * - FREERUN: everything else (never locked, offset out of bounds with the
 *   grandmaster present, holdover expired).
 */
export type ClockState = 'FREERUN' | 'LOCKED' | 'HOLDOVER';

/** Numeric values of `ptp_clock_state` (OpenShift's encoding: FREERUN 0, LOCKED 1, HOLDOVER 2). */
export const clockStateCodes: Readonly<Record<ClockState, number>> = { FREERUN: 0, LOCKED: 1, HOLDOVER: 2 };

export interface ClockStateThresholds {
  readonly maxOffsetThresholdNs: number;
  readonly minOffsetThresholdNs: number;
  readonly holdoverTimeoutMs: number;
}

export interface ClockObservation {
  readonly nowMs: number;
  /** Derived grandmaster presence (port state and advancing ingress_time). */
  readonly gmPresent: boolean;
  /** A port is in SLAVE state. */
  readonly slavePort: boolean;
  /** Offset from master; undefined when not known this round. */
  readonly offsetNs: number | undefined;
}

export interface ClockStateTransition {
  readonly from: ClockState;
  readonly to: ClockState;
}

export class ClockStateMachine {
  private current: ClockState = 'FREERUN';
  private holdoverSinceMs = 0;

  constructor(private readonly thresholds: ClockStateThresholds) {}

  get state(): ClockState {
    return this.current;
  }

  /** Feeds one observation; returns the transition it caused, if any. */
  update(obs: ClockObservation): ClockStateTransition | undefined {
    const next = this.next(obs);
    if (next === this.current) return undefined;
    const transition = { from: this.current, to: next };
    if (next === 'HOLDOVER') this.holdoverSinceMs = obs.nowMs;
    this.current = next;
    return transition;
  }

  private next(obs: ClockObservation): ClockState {
    const { maxOffsetThresholdNs, minOffsetThresholdNs, holdoverTimeoutMs } = this.thresholds;
    const inBounds =
      obs.offsetNs !== undefined &&
      obs.offsetNs >= minOffsetThresholdNs &&
      obs.offsetNs <= maxOffsetThresholdNs;
    const locked = obs.gmPresent && obs.slavePort && inBounds;
    if (locked) return 'LOCKED';
    switch (this.current) {
      case 'LOCKED':
        if (obs.gmPresent) return 'FREERUN';
        return holdoverTimeoutMs > 0 ? 'HOLDOVER' : 'FREERUN';
      case 'HOLDOVER':
        return obs.nowMs - this.holdoverSinceMs >= holdoverTimeoutMs ? 'FREERUN' : 'HOLDOVER';
      default:
        return 'FREERUN';
    }
  }
}
