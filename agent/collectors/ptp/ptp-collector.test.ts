import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Collection, Sample } from '../../model/telemetry.js';
import { parsePtpConfig } from './config.js';
import { PtpCollector } from './ptp-collector.js';

/**
 * The collector over the recorded pmc replies of a real ptp4l slave
 * (test/fixtures/ptp, four phases), served by a replay pmc that picks the phase
 * from "<socket>.phase". The socket is a real UNIX socket so discovery sees it.
 * The real-ptp4l run is test/integration/ptp.
 */
const replayPmc = join(import.meta.dirname, '../../../test/fixtures/ptp/pmc-replay/pmc');

describe('PtpCollector over recorded pmc replies', () => {
  let dir: string;
  let socket: string;
  let server: Server;
  let nowMs = 1_800_000_000_000;
  let collector: PtpCollector;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aiops-ptp-replay-'));
    socket = join(dir, 'ptp4l.0.socket');
    server = createServer();
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    const config = parsePtpConfig({
      pmcPath: replayPmc,
      pmcClientDir: dir,
      sockets: [join(dir, 'ptp4l.*.socket')],
      // The recorded software-timestamped offsets are a few hundred ns.
      maxOffsetThresholdNs: 1000,
      minOffsetThresholdNs: -1000,
      holdoverTimeoutMs: 5000,
    });
    collector = new PtpCollector(config, {
      logger: pino({ level: 'silent' }),
      nodeName: 'n',
      now: () => nowMs,
    });
    await collector.start();
  });
  afterAll(async () => {
    await collector.stop();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  const phase = async (name: string, advanceMs: number): Promise<Collection> => {
    await writeFile(`${socket}.phase`, name);
    nowMs += advanceMs;
    return collector.collect(AbortSignal.timeout(10_000));
  };
  const value = (out: Collection, metric: string): number | undefined =>
    out.samples.find((s: Sample) => s.series.metric === metric)?.value;
  const kinds = (out: Collection): string[] => out.events.map((e) => e.kind);

  it('goes UNCALIBRATED -> SLAVE/LOCKED -> master lost/HOLDOVER -> FREERUN -> back, as recorded', async () => {
    const uncal = await phase('uncalibrated', 0);
    expect(value(uncal, 'ptp_instance_up')).toBe(1);
    expect(value(uncal, 'ptp_port_state')).toBe(8);
    expect(value(uncal, 'ptp_clock_state')).toBe(0);
    expect(value(uncal, 'ptp_clock_class')).toBe(255);
    const clock = uncal.inventory.find((i) => i.kind === 'ptp_clock');
    expect(clock?.entity).toBe('22ea84.fffe.de1148');
    expect(clock?.attributes).toMatchObject({ slave_only: '1', unanswered: '' });
    expect(uncal.inventory.find((i) => i.kind === 'ptp_port')?.attributes).toMatchObject({
      interface: 'veths',
      timestamping: 'SOFTWARE',
    });

    const slave = await phase('slave', 20_000);
    expect(value(slave, 'ptp_port_state')).toBe(9);
    expect(value(slave, 'ptp_clock_state')).toBe(1);
    expect(value(slave, 'ptp_offset_seconds')).toBeCloseTo(-255e-9, 15);
    expect(value(slave, 'ptp_mean_path_delay_seconds')).toBeCloseTo(2258e-9, 15);
    expect(value(slave, 'ptp_grandmaster_clock_class')).toBe(248);
    expect(value(slave, 'ptp_utc_offset_seconds')).toBe(37);
    expect(
      slave.samples.find(
        (s) => s.series.metric === 'ptp_port_rx_messages_total' && s.series.labels.message_type === 'Sync',
      )?.value,
    ).toBe(35);
    expect(kinds(slave)).toEqual(['ptp_port_state_change', 'ptp_lock_recovered']);

    // ptp4l still answers PARENT_DATA_SET with gm.ClockClass 248 and CURRENT_DATA_SET with the old offset.
    const lost = await phase('masterlost', 20_000);
    expect(value(lost, 'ptp_port_state')).toBe(4);
    expect(value(lost, 'ptp_grandmaster_present')).toBe(0);
    expect(value(lost, 'ptp_clock_state')).toBe(2);
    expect(value(lost, 'ptp_offset_seconds')).toBeUndefined();
    expect(value(lost, 'ptp_grandmaster_clock_class')).toBeUndefined();
    expect(kinds(lost)).toEqual([
      'ptp_port_state_change',
      'ptp_grandmaster_lost',
      'ptp_lock_lost',
      'ptp_holdover_entered',
    ]);
    expect(lost.events[1]?.attributes).toMatchObject({
      grandmaster: 'eaa8c1.fffe.d0cd3c',
      reason: 'no port follows a master',
    });

    const expired = await phase('masterlost', 5_000);
    expect(value(expired, 'ptp_clock_state')).toBe(0);
    expect(kinds(expired)).toEqual(['ptp_holdover_exited']);
    expect(expired.events[0]?.severity).toBe('error');

    const back = await phase('masterback', 15_000);
    expect(value(back, 'ptp_clock_state')).toBe(1);
    expect(kinds(back)).toEqual(['ptp_port_state_change', 'ptp_grandmaster_recovered', 'ptp_lock_recovered']);
  });

  it('declares the grandmaster lost when ingress_time stops advancing while the port is still SLAVE', async () => {
    await phase('slave', 1000);
    await phase('slave', 1000);
    const stale = await phase('slave', 5000);
    expect(value(stale, 'ptp_port_state')).toBe(9);
    expect(value(stale, 'ptp_grandmaster_present')).toBe(0);
    expect(stale.events.find((e) => e.kind === 'ptp_grandmaster_lost')?.attributes.reason).toBe(
      'ingress_time not advancing',
    );
    expect(value(await phase('masterback', 1000), 'ptp_grandmaster_present')).toBe(1);
  });

  it('retries the ids that got no answer and reports what stayed unanswered', async () => {
    const out = await phase('partial', 1000);
    expect(value(out, 'ptp_instance_up')).toBe(1);
    expect(out.inventory.find((i) => i.kind === 'ptp_clock')?.attributes.unanswered).toBe(
      'PARENT_DATA_SET,TIME_PROPERTIES_DATA_SET,TIME_STATUS_NP,PORT_DATA_SET,PORT_PROPERTIES_NP,PORT_STATS_NP',
    );
    // The first run answered DEFAULT_DATA_SET, the retry CURRENT_DATA_SET.
    expect(value(out, 'ptp_clock_class')).toBe(255);
  });

  it('reports ptp4l down when pmc gets no RESPONSE MANAGEMENT although it exits 0, and up again', async () => {
    await phase('slave', 1000);
    const down = await phase('noresponse', 1000);
    expect(value(down, 'ptp_instance_up')).toBe(0);
    expect(down.samples).toHaveLength(1);
    expect(down.events.map((e) => [e.kind, e.attributes.reason])).toEqual([
      ['ptp_process_down', 'no RESPONSE MANAGEMENT from pmc'],
    ]);
    const up = await phase('slave', 1000);
    expect(kinds(up)).toContain('ptp_process_up');
  });
});
