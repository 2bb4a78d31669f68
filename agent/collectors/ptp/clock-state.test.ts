import { describe, expect, it } from 'vitest';
import { ClockStateMachine } from './clock-state.js';

const openshiftDefaults = { maxOffsetThresholdNs: 100, minOffsetThresholdNs: -100, holdoverTimeoutMs: 5000 };
const present = { gmPresent: true, slavePort: true };
const lost = { gmPresent: false, slavePort: false, offsetNs: undefined };

describe('ClockStateMachine', () => {
  it('starts FREERUN and locks only with the grandmaster present, a SLAVE port and the offset in bounds', () => {
    const m = new ClockStateMachine(openshiftDefaults);
    expect(m.state).toBe('FREERUN');
    expect(m.update({ nowMs: 0, ...present, offsetNs: 150 })).toBeUndefined();
    expect(m.update({ nowMs: 1, gmPresent: true, slavePort: false, offsetNs: 10 })).toBeUndefined();
    expect(m.update({ nowMs: 2, ...present, offsetNs: -100 })).toEqual({ from: 'FREERUN', to: 'LOCKED' });
  });

  it('goes LOCKED -> HOLDOVER on grandmaster loss and FREERUN once holdoverTimeout has passed', () => {
    const m = new ClockStateMachine(openshiftDefaults);
    m.update({ nowMs: 0, ...present, offsetNs: 5 });
    expect(m.update({ nowMs: 1000, ...lost })).toEqual({ from: 'LOCKED', to: 'HOLDOVER' });
    expect(m.update({ nowMs: 5999, ...lost })).toBeUndefined();
    expect(m.state).toBe('HOLDOVER');
    expect(m.update({ nowMs: 6000, ...lost })).toEqual({ from: 'HOLDOVER', to: 'FREERUN' });
  });

  it('leaves HOLDOVER for LOCKED when the lock comes back in time', () => {
    const m = new ClockStateMachine(openshiftDefaults);
    m.update({ nowMs: 0, ...present, offsetNs: 5 });
    m.update({ nowMs: 1000, ...lost });
    expect(m.update({ nowMs: 2000, ...present, offsetNs: 50 })).toEqual({ from: 'HOLDOVER', to: 'LOCKED' });
  });

  it('goes straight to FREERUN when the offset leaves the bounds while the grandmaster is present', () => {
    const m = new ClockStateMachine(openshiftDefaults);
    m.update({ nowMs: 0, ...present, offsetNs: 5 });
    expect(m.update({ nowMs: 1, ...present, offsetNs: 101 })).toEqual({ from: 'LOCKED', to: 'FREERUN' });
  });

  it('skips HOLDOVER when holdoverTimeoutMs is 0', () => {
    const m = new ClockStateMachine({ ...openshiftDefaults, holdoverTimeoutMs: 0 });
    m.update({ nowMs: 0, ...present, offsetNs: 5 });
    expect(m.update({ nowMs: 1, ...lost })).toEqual({ from: 'LOCKED', to: 'FREERUN' });
  });
});
