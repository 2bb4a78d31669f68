import { describe, expect, it } from 'vitest';
import type { StoredSeries } from '../store/store.js';
import { Outbox, SampleQueue, encodeTuple } from './outbox.js';

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

/** Each subscription's queue, as its session would hold it. */
const queues = new WeakMap<Outbox, Map<string, SampleQueue>>();

/** What a session does per emitted point: announce the series, then queue the tuple. */
function add(o: Outbox, subId: string, s: StoredSeries, tuple: string): number {
  let mine = queues.get(o);
  if (mine === undefined) queues.set(o, (mine = new Map()));
  let queue = mine.get(subId);
  if (queue === undefined) mine.set(subId, (queue = new SampleQueue(subId)));
  o.announce(s);
  return o.addSample(queue, s.id, tuple);
}

function frame(o: Outbox) {
  const taken = o.takeFrame();
  return taken === undefined ? undefined : (JSON.parse(taken.frame) as Record<string, unknown>);
}

describe('Outbox', () => {
  it('sends a series identity once per connection, then only [id, ts, value] tuples', () => {
    const o = new Outbox(1 << 20);
    add(o, 's', series(1), encodeTuple(1, 10, 1.5));
    add(o, 's', series(1), encodeTuple(1, 20, Number.NaN));
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
    add(o, 's', series(1), encodeTuple(1, 30, 2));
    expect(frame(o)).toEqual({ type: 'data', subs: { s: { samples: [[1, 30, 2]] } } });
    expect(o.takeFrame()).toBeUndefined();
  });

  it('coalesces to the latest value per series under pressure and reports the count in the frame', () => {
    const o = new Outbox(1 << 20);
    add(o, 's', series(1), encodeTuple(1, 1, 1));
    add(o, 's', series(1), encodeTuple(1, 2, 2));
    add(o, 's', series(2), encodeTuple(2, 2, 5));
    expect(o.startCoalescing()).toBe(1);
    expect(add(o, 's', series(2), encodeTuple(2, 3, 6))).toBe(1);
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
    for (let i = 0; i < 20; i++) add(o, 's', series(1), encodeTuple(1, i, i));
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
    add(o, 'a', series(1), encodeTuple(1, 1, 1));
    o.addEvent('a', '{}');
    o.addAnomaly('b', '{}');
    expect(o.forget('a')).toEqual({ samples: 1, events: 1, anomalies: 0 });
    expect(o.clear()).toEqual({ samples: 0, events: 0, anomalies: 1 });
    expect(o.eventBytes).toBe(0);
  });
});

describe('Outbox sample queues', () => {
  it('keeps delivering to a queue after forget() (a subscription moved to new channels)', () => {
    const o = new Outbox(1 << 20);
    const queue = new SampleQueue('s');
    o.announce(series(1));
    o.addSample(queue, 1, encodeTuple(1, 1, 1));
    expect(o.forget('s')).toEqual({ samples: 1, events: 0, anomalies: 0 });
    o.addSample(queue, 1, encodeTuple(1, 2, 2));
    const f = frame(o)!;
    expect((f.subs as Record<string, unknown>).s).toEqual({ samples: [[1, 2, 2]] });
  });

  it('returns to arrival order after stopCoalescing once the queue has been drained', () => {
    const o = new Outbox(1 << 20);
    const queue = new SampleQueue('s');
    o.announce(series(1));
    o.addSample(queue, 1, encodeTuple(1, 1, 1));
    o.startCoalescing();
    expect(o.addSample(queue, 1, encodeTuple(1, 2, 2))).toBe(1);
    frame(o);
    o.stopCoalescing();
    expect(o.addSample(queue, 1, encodeTuple(1, 3, 3))).toBe(0);
    expect(o.addSample(queue, 1, encodeTuple(1, 4, 4))).toBe(0);
    expect((frame(o)!.subs as Record<string, unknown>).s).toEqual({
      samples: [
        [1, 3, 3],
        [1, 4, 4],
      ],
    });
  });
});
