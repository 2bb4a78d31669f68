import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePmcOutput, pmcBool, pmcNumber } from './pmc-parser.js';

const fixtures = join(import.meta.dirname, '../../../test/fixtures/ptp');
const read = (name: string): string => readFileSync(join(fixtures, name), 'utf8');

describe('parsePmcOutput', () => {
  it('finds exactly one RESPONSE MANAGEMENT block of the asked id in every recorded single-query reply', () => {
    const files = readdirSync(fixtures).filter((f) =>
      /^pmc-(uncalibrated|slave|masterlost|masterback)-.*\.txt$/.test(f),
    );
    const singles = files.filter((f) => !f.includes('batch'));
    expect(singles.length).toBeGreaterThanOrEqual(33);
    for (const file of singles) {
      const text = read(file);
      const asked = /^sending: GET (\S+)/.exec(text)?.[1];
      const parsed = parsePmcOutput(text);
      expect(
        parsed.responses.map((r) => r.id),
        file,
      ).toEqual([asked]);
      expect(Object.keys(parsed.responses[0]?.fields ?? {}).length, file).toBeGreaterThan(0);
    }
  });

  it('splits a two-query batch into both replies with their sequence numbers', () => {
    const parsed = parsePmcOutput(read('pmc-slave-batch-two-queries.txt'));
    expect(parsed.responses.map((r) => [r.id, r.seq, r.portIdentity])).toEqual([
      ['PORT_DATA_SET', 0, '22ea84.fffe.de1148-1'],
      ['TIME_STATUS_NP', 1, '22ea84.fffe.de1148-0'],
    ]);
    expect(parsed.responses[0]?.fields.portState).toBe('SLAVE');
    expect(parsed.responses[1]?.fields.ingress_time).toBe('1795693075558013311');
  });

  it('reports no response when ptp4l is gone, although pmc exited 0', () => {
    const parsed = parsePmcOutput(read('pmc-noresponse-current-data-set.txt'));
    expect(parsed.responses).toEqual([]);
    expect(parsed.errors).toEqual([]);
  });

  it('collects the commands pmc itself rejected', () => {
    expect(parsePmcOutput(read('pmc-bad-command-clock-class.txt')).rejected).toEqual([
      'bad command: GET CLOCK_CLASS',
    ]);
    expect(parsePmcOutput(read('pmc-not-supported-time.txt')).rejected).toEqual([
      'sorry, TIME not supported yet',
    ]);
  });

  it('reads the values the collector relies on, with their recorded units', () => {
    const current = parsePmcOutput(read('pmc-slave-current-data-set.txt')).responses[0]?.fields ?? {};
    expect(pmcNumber(current, 'offsetFromMaster')).toBe(-255);
    expect(pmcNumber(current, 'meanPathDelay')).toBe(2258);
    const def = parsePmcOutput(read('pmc-slave-default-data-set.txt')).responses[0]?.fields ?? {};
    expect(pmcNumber(def, 'clockAccuracy')).toBe(0xfe);
    expect(pmcBool(def, 'slaveOnly')).toBe(true);
    const lost = parsePmcOutput(read('pmc-masterlost-time-status-np.txt')).responses[0]?.fields ?? {};
    // The stale reply after master loss: gmPresent still true, ingress_time 0.
    expect(lost.ingress_time).toBe('0');
    expect(pmcBool(lost, 'gmPresent')).toBe(true);
    expect(pmcNumber(def, 'noSuchField')).toBeUndefined();
  });

  it('parses a management error status as an error of that id, not as a response', () => {
    const text = [
      'sending: GET PORT_DATA_SET',
      '\t22ea84.fffe.de1148-1 seq 0 RESPONSE MANAGEMENT_ERROR_STATUS PORT_DATA_SET',
      '\t\tNOT_SUPPORTED',
      '',
    ].join('\n');
    const parsed = parsePmcOutput(text);
    expect(parsed.responses).toEqual([]);
    expect(parsed.errors).toEqual([
      { id: 'PORT_DATA_SET', portIdentity: '22ea84.fffe.de1148-1', message: 'NOT_SUPPORTED' },
    ]);
  });
});
