import { mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Collection, SeriesKey } from '../model/telemetry.js';
import { decodeBatch, encodeBatch } from './batch.js';
import { SeriesRefTable } from './series-refs.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'aiops-refs-'));
  dirs.push(d);
  return d;
};

const cpu: SeriesKey = {
  metric: 'host_cpu_seconds_total',
  source: 'host',
  entity: '',
  labels: { mode: 'user', cpu: '0' },
  kind: 'counter',
};
const temp: SeriesKey = {
  metric: 'gpu_temperature_celsius',
  source: 'gpu',
  entity: 'GPU-1',
  labels: {},
  kind: 'gauge',
};
const collection: Collection = {
  samples: [
    { series: cpu, timestampMs: 1000, value: 1.5 },
    { series: temp, timestampMs: 1000, value: 40 },
    { series: cpu, timestampMs: 2000, value: 2.5 },
  ],
  events: [
    {
      timestampMs: 5,
      kind: 'gpu_xid',
      severity: 'error',
      source: 'gpu',
      entity: 'GPU-1',
      message: 'Xid 79',
      attributes: { xid: '79' },
    },
  ],
  inventory: [
    {
      observedMs: 6,
      source: 'ptp',
      entity: 'ptp',
      kind: 'collector',
      attributes: {},
      absent: true,
      absentReason: 'no ptp4l',
    },
  ],
};

describe('encodeBatch', () => {
  it('groups samples per series and carries the definitions of every ref it uses', () => {
    const refs = new SeriesRefTable(undefined, { sync: false });
    const batch = decodeBatch(encodeBatch(7, [collection], refs));
    expect(batch.sequence).toBe(7);
    expect(batch.series.map((s) => [s.ref, s.metric, s.type])).toEqual([
      [1, 'host_cpu_seconds_total', 2],
      [2, 'gpu_temperature_celsius', 1],
    ]);
    expect(batch.series[0]!.labels).toEqual([
      { name: 'cpu', value: '0' },
      { name: 'mode', value: 'user' },
    ]);
    expect(batch.samples).toEqual([
      { ref: 1, timestampsMs: [1000, 2000], values: [1.5, 2.5] },
      { ref: 2, timestampsMs: [1000], values: [40] },
    ]);
    expect(batch.events[0]).toMatchObject({
      kind: 'gpu_xid',
      severity: 3,
      attributes: [{ name: 'xid', value: '79' }],
    });
    expect(batch.inventory[0]).toMatchObject({ absent: true, absentReason: 'no ptp4l', kind: 'collector' });
  });
});

describe('SeriesRefTable', () => {
  it('keeps refs stable across restarts and ignores a torn last line', () => {
    const path = join(tmp(), 'refs.jsonl');
    const a = new SeriesRefTable(path, { sync: true });
    expect(a.refOf(cpu)).toBe(1);
    expect(a.refOf(temp)).toBe(2);
    a.close();
    appendFileSync(path, '{"ref":3,"ser');
    const b = new SeriesRefTable(path, { sync: true });
    expect(b.refOf(temp)).toBe(2);
    expect(b.refOf(cpu)).toBe(1);
    expect(b.refOf({ ...cpu, labels: { cpu: '1', mode: 'user' } })).toBe(3);
    b.close();
  });

  it('never reuses a ref when the file has unreadable lines', () => {
    const path = join(tmp(), 'refs.jsonl');
    writeFileSync(path, `not json\n${JSON.stringify({ ref: 9, series: temp })}\n`);
    const t = new SeriesRefTable(path, { sync: false });
    expect(t.refOf(temp)).toBe(9);
    expect(t.refOf(cpu)).toBe(10);
  });
});
