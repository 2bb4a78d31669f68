import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePtpLogLine, type PtpLogLine } from './log-parser.js';

const fixtures = join(import.meta.dirname, '../../../test/fixtures/ptp');
const logFiles = readdirSync(fixtures).filter((f) => f.endsWith('.log'));
const linesOf = (name: string): string[] =>
  readFileSync(join(fixtures, name), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');

describe('parsePtpLogLine over every recorded log', () => {
  it('covers the linuxptp 3.1 captures and the OpenShift linuxptp 4.4 logs', () => {
    expect(logFiles).toEqual(
      expect.arrayContaining([
        'ptp4l-slave.log',
        'ptp4l-slave-summary-udpv4.log',
        'openshift-tbc-startup-linuxptp44.log',
        'openshift-tbc-fault-linuxptp44.log',
      ]),
    );
  });

  for (const file of logFiles) {
    it(`classifies every line of ${file} like an independent grep does`, () => {
      const lines = linesOf(file);
      const parsed = lines.map((l) => parsePtpLogLine(l) as PtpLogLine);
      const count = (kind: PtpLogLine['kind']): number => parsed.filter((p) => p.kind === kind).length;
      expect(count('servo')).toBe(lines.filter((l) => / offset +-?\d+ s\d /.test(l)).length);
      expect(count('summary')).toBe(lines.filter((l) => / rms +\d+ max /.test(l)).length);
      expect(count('port_state')).toBe(lines.filter((l) => /: [A-Z_]+ to [A-Z_]+ on /.test(l)).length);
      expect(count('link')).toBe(lines.filter((l) => /link (up|down)$/.test(l)).length);
      for (const p of parsed) {
        // Every line in the fixtures carries a program prefix with a monotonic time.
        expect(['ptp4l', 'phc2sys', 'ts2phc']).toContain(p.process);
        expect(p.monotonicS).toBeGreaterThan(0);
      }
    });
  }
});

describe('parsePtpLogLine fields', () => {
  it('reads a linuxptp 3.1 per-sample line with a plain message_tag', () => {
    expect(
      parsePtpLogLine(
        'ptp4l[790.820]: [ptp4l.0.config] master offset       -751 s0 freq     -90 path delay      2203',
      ),
    ).toEqual({
      kind: 'servo',
      process: 'ptp4l',
      monotonicS: 790.82,
      tag: 'ptp4l.0.config',
      message: 'master offset       -751 s0 freq     -90 path delay      2203',
      clock: 'master',
      offsetNs: -751,
      servoState: 0,
      freqPpb: -90,
      pathDelayNs: 2203,
    });
  });

  it('reads a summary line with both standard deviations', () => {
    const line = parsePtpLogLine(
      'ptp4l[890.652]: [ptp4l.0.config] rms  490 max  638 freq   +128 +/- 142 delay  1786 +/- 153',
    );
    expect(line).toMatchObject({
      kind: 'summary',
      clock: '',
      offsetRmsNs: 490,
      offsetMaxNs: 638,
      freqPpb: 128,
      freqStddevPpb: 142,
      pathDelayNs: 1786,
      pathDelayStddevNs: 153,
    });
  });

  it('reads a linuxptp 4.4 fault transition with level, interface and detail', () => {
    const line = parsePtpLogLine(
      'ptp4l[1306977.262]: [ptp4l.1.config:5] port 1 (ens4f1): SLAVE to FAULTY on FAULT_DETECTED (FT_UNSPECIFIED)',
    );
    expect(line).toMatchObject({
      kind: 'port_state',
      tag: 'ptp4l.1.config',
      level: 5,
      portNumber: 1,
      ifname: 'ens4f1',
      from: 'SLAVE',
      to: 'FAULTY',
      event: 'FAULT_DETECTED',
      detail: 'FT_UNSPECIFIED',
    });
  });

  it('reads the master-loss transition of linuxptp 3.1 without an interface name', () => {
    expect(
      parsePtpLogLine(
        'ptp4l[827.308]: [ptp4l.0.config] port 1: SLAVE to LISTENING on ANNOUNCE_RECEIPT_TIMEOUT_EXPIRES',
      ),
    ).toMatchObject({
      kind: 'port_state',
      ifname: '',
      from: 'SLAVE',
      to: 'LISTENING',
      event: 'ANNOUNCE_RECEIPT_TIMEOUT_EXPIRES',
    });
  });

  it('reads phc2sys and ts2phc servo lines with their clock names', () => {
    const phc2sys = linesOf('openshift-tbc-startup-linuxptp44.log').find((l) =>
      l.includes('CLOCK_REALTIME phc offset'),
    );
    expect(parsePtpLogLine(phc2sys ?? '')).toMatchObject({
      kind: 'servo',
      process: 'phc2sys',
      clock: 'CLOCK_REALTIME phc',
    });
    const ts2phc = linesOf('openshift-tbc-startup-linuxptp44.log').find((l) =>
      /ts2phc.*\/dev\/ptp\d+ offset/.test(l),
    );
    const parsed = parsePtpLogLine(ts2phc ?? '');
    expect(parsed).toMatchObject({ kind: 'servo', process: 'ts2phc' });
    expect(parsed?.kind === 'servo' ? parsed.pathDelayNs : 'not servo').toBeUndefined();
  });

  it('accepts lines without prefix or tag, and syslog lines whose bracket is a pid', () => {
    expect(parsePtpLogLine('master offset 12 s2 freq +3 path delay 500')).toMatchObject({
      kind: 'servo',
      process: '',
      tag: '',
      offsetNs: 12,
    });
    const syslog = parsePtpLogLine(
      'Nov 26 11:37:54 node1 ptp4l[20101]: port 1: LISTENING to MASTER on ANNOUNCE_RECEIPT_TIMEOUT_EXPIRES',
    );
    expect(syslog).toMatchObject({ kind: 'port_state', process: 'ptp4l', to: 'MASTER' });
    expect(syslog?.monotonicS).toBeUndefined();
  });

  it('returns other for unknown messages and undefined for blank lines', () => {
    expect(parsePtpLogLine('ptp4l[1.000]: selected best master clock eaa8c1.fffe.d0cd3c')?.kind).toBe(
      'other',
    );
    expect(parsePtpLogLine('garbage \u0000 line')?.kind).toBe('other');
    expect(parsePtpLogLine('   ')).toBeUndefined();
  });
});
