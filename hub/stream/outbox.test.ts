import { describe, expect, it } from 'vitest';
import type { StoredSeries } from '../store/store.js';
import { Outbox, encodeTuple } from './outbox.js';

const series = (id: number): StoredSeries => ({
  id,
  cluster: 'c',
  node: 'n',
  source: 'gpu',
  entity: `e${id}`,
  metric: 'm',
  labels: { a: 'b' },
  kind: 'gauge',
});

function frame(o: Outbox) {
  const taken = o.takeFrame();
  return taken === undefined ? undefined : (JSON.parse(taken.frame) as Record<string, unknown>);
}

describe('Outbox', () => {
  it('sends a series identity once per connection, then only [id, ts, value] tuples', () => {
    const o = new Outbox(1 << 20);
    o.addSample('s', series(1), encodeTuple(1, 10, 1.5));
    o.addSample('s', series(1), encodeTuple(1, 20, Number.NaN));
    expect(frame(o)).toEqual({
      type: 'data',
      series: [
        {
          id: 1,
          cluster: 'c',
          node: 'n',
          source: 'gpu',
          entity: 'e1',
          metric: 'm',
          labels: { a: 'b' },
          kind: 'gauge',
        },
      ],
      subs: {
        s: {
          samples: [
            [1, 10, 1.5],
            [1, 20, null],
          ],
        },
      },
    });
    o.addSample('s', series(1), encodeTuple(1, 30, 2));
    expect(frame(o)).toEqual({ type: 'data', subs: { s: { samples: [[1, 30, 2]] } } });
    expect(o.takeFrame()).toBeUndefined();
  });

  it('coalesces to the latest value per series under pressure and reports the count in the frame', () => {
    const o = new Outbox(1 << 20);
    o.addSample('s', series(1), encodeTuple(1, 1, 1));
    o.addSample('s', series(1), encodeTuple(1, 2, 2));
    o.addSample('s', series(2), encodeTuple(2, 2, 5));
    expect(o.startCoalescing()).toBe(1);
    expect(o.addSample('s', series(2), encodeTuple(2, 3, 6))).toBe(1);
    const f = frame(o)!;
    expect((f.subs as Record<string, unknown>).s).toEqual({
      samples: [
        [1, 2, 2],
        [2, 3, 6],
      ],
    });
    expect(f.coalesced).toBe(2);
  });

  it('starts coalescing by itself when the queue passes its byte bound, but never coalesces events', () => {
    const o = new Outbox(32 * 10);
    for (let i = 0; i < 20; i++) o.addSample('s', series(1), encodeTuple(1, i, i));
    expect(o.coalescing).toBe(true);
    o.addEvent('e', '{"message":"one"}');
    o.addEvent('e', '{"message":"one"}');
    const f = frame(o)!;
    expect((f.subs as Record<string, { samples?: unknown[]; events?: unknown[] }>).s?.samples).toEqual([
      [1, 19, 19],
    ]);
    expect((f.subs as Record<string, { events?: unknown[] }>).e?.events).toHaveLength(2);
  });

  it('forgets a subscription and accounts for everything dropped', () => {
    const o = new Outbox(1 << 20);
    o.addSample('a', series(1), encodeTuple(1, 1, 1));
    o.addEvent('a', '{}');
    o.addAnomaly('b', '{}');
    expect(o.forget('a')).toEqual({ samples: 1, events: 1, anomalies: 0 });
    expect(o.clear()).toEqual({ samples: 0, events: 0, anomalies: 1 });
    expect(o.eventBytes).toBe(0);
  });
});
