import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Collection } from '../model/telemetry.js';
import { createAgentMetrics } from '../ops/metrics.js';
import type { Collector } from './collector.js';
import { Scheduler } from './scheduler.js';

const logger = pino({ level: 'silent' });
const empty = (): Collection => ({ samples: [], events: [], inventory: [] });

function collector(name: string, collect: (signal: AbortSignal) => Promise<Collection>): Collector {
  return { name, start: async () => undefined, collect, stop: async () => undefined };
}

describe('Scheduler', () => {
  it('reports up, duration and errors as samples of source agent and on /metrics', async () => {
    let n = 0;
    const c = collector('flaky', async () => {
      n += 1;
      if (n === 2) throw new Error('boom');
      return empty();
    });
    const sunk: Collection[] = [];
    const metrics = createAgentMetrics();
    const s = new Scheduler({
      collectors: [{ collector: c, intervalMs: 1000, timeoutMs: 500 }],
      sink: (x) => sunk.push(x),
      metrics,
      logger,
    });
    await s.runAllOnce();
    const second = await s.runAllOnce();
    expect(second.get('flaky')?.status).toBe('failed');
    const up = sunk.map((x) => x.samples.find((q) => q.series.metric === 'agent_collector_up')?.value);
    expect(up).toEqual([1, 0]);
    const errors = sunk[1]!.samples.find((q) => q.series.metric === 'agent_collector_errors_total')!;
    expect(errors).toMatchObject({
      value: 1,
      series: { source: 'agent', labels: { collector: 'flaky' }, kind: 'counter' },
    });
    const text = await metrics.registry.metrics();
    expect(text).toContain('agent_collector_up{collector="flaky"} 0');
    expect(text).toContain('agent_collector_errors_total{collector="flaky"} 1');
    await s.stop();
  });

  it('aborts a run at its timeout and never overlaps a collector that ignores the signal', async () => {
    let running = 0;
    let maxRunning = 0;
    let release: () => void = () => undefined;
    const c = collector('stuck', async () => {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      await new Promise<void>((r) => (release = r));
      running -= 1;
      return empty();
    });
    const s = new Scheduler({
      collectors: [{ collector: c, intervalMs: 20, timeoutMs: 30 }],
      sink: () => undefined,
      metrics: createAgentMetrics(),
      logger,
    });
    const first = await s.runAllOnce();
    expect(first.get('stuck')).toMatchObject({ status: 'failed', timedOut: true });
    // Still running: a second request joins the same run instead of starting another.
    const again = s.runAllOnce();
    release();
    await again;
    expect(maxRunning).toBe(1);
    await s.stop();
  });

  it('passes the abort signal to the collector at the timeout', async () => {
    let aborted = false;
    const c = collector(
      'slow',
      (signal) =>
        new Promise((_, reject) =>
          signal.addEventListener('abort', () => {
            aborted = true;
            reject(signal.reason);
          }),
        ),
    );
    const s = new Scheduler({
      collectors: [{ collector: c, intervalMs: 1000, timeoutMs: 20 }],
      sink: () => undefined,
      metrics: createAgentMetrics(),
      logger,
    });
    const out = await s.runAllOnce();
    expect(aborted).toBe(true);
    expect(out.get('slow')?.status).toBe('failed');
    await s.stop();
  });

  it('reports a source that finds itself absent as absent, not failed', async () => {
    const c = collector('gpu', async () => ({
      samples: [],
      events: [],
      inventory: [
        {
          observedMs: 1,
          source: 'gpu',
          entity: 'gpu',
          kind: 'collector',
          attributes: {},
          absent: true,
          absentReason: 'nvidia-smi not found',
        },
      ],
    }));
    const sunk: Collection[] = [];
    const s = new Scheduler({
      collectors: [{ collector: c, intervalMs: 1000, timeoutMs: 100 }],
      sink: (x) => sunk.push(x),
      metrics: createAgentMetrics(),
      logger,
    });
    const out = await s.runAllOnce();
    expect(out.get('gpu')).toMatchObject({ status: 'absent', reason: 'nvidia-smi not found' });
    expect(s.health()[0]!.state).toBe('absent');
    expect(sunk[0]!.inventory).toHaveLength(1);
    expect(sunk[0]!.samples.every((q) => q.series.source === 'agent')).toBe(true);
    await s.stop();
  });

  it('runs periodically at the interval until stopped', async () => {
    let runs = 0;
    const c = collector('tick', async () => {
      runs += 1;
      return empty();
    });
    const s = new Scheduler({
      collectors: [{ collector: c, intervalMs: 25, timeoutMs: 20 }],
      sink: () => undefined,
      metrics: createAgentMetrics(),
      logger,
    });
    s.start();
    await new Promise((r) => setTimeout(r, 140));
    await s.stop();
    const at = runs;
    expect(at).toBeGreaterThanOrEqual(3);
    await new Promise((r) => setTimeout(r, 60));
    expect(runs).toBe(at);
  });

  it('applies a new interval and a disable/enable while running (hub-pushed settings)', async () => {
    let runs = 0;
    const c = collector('tick', async () => {
      runs += 1;
      return empty();
    });
    const metrics = createAgentMetrics();
    const s = new Scheduler({
      collectors: [{ collector: c, intervalMs: 60_000, timeoutMs: 1000 }],
      sink: () => undefined,
      metrics,
      logger,
    });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    s.start();
    await sleep(50);
    expect(runs).toBe(1);
    expect(s.reconfigure('tick', { enabled: true, intervalMs: 20 })).toBe(true);
    await sleep(200);
    expect(runs).toBeGreaterThanOrEqual(4);
    expect(s.health()[0]).toMatchObject({ state: 'ok', intervalMs: 20 });
    s.reconfigure('tick', { enabled: false, intervalMs: 20 });
    await sleep(30);
    const stopped = runs;
    await sleep(150);
    expect(runs).toBe(stopped);
    expect(s.health()[0]).toMatchObject({ state: 'disabled' });
    expect(await metrics.registry.metrics()).not.toContain('agent_collector_up{collector="tick"}');
    s.reconfigure('tick', { enabled: true, intervalMs: 60_000 });
    await sleep(50);
    expect(runs).toBe(stopped + 1);
    expect(s.health()[0]).toMatchObject({ state: 'ok', intervalMs: 60_000 });
    expect(s.reconfigure('nope', { enabled: true, intervalMs: 100 })).toBe(false);
    await s.stop();
  });
});
