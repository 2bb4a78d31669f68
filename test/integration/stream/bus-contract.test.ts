import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus, BusBatch } from '../../../hub/bus/bus.js';
import { MemoryBus } from '../../../hub/bus/memory-bus.js';
import { RedisBus } from '../../../hub/bus/redis-bus.js';
import { describeWithComponent, redisMissing, redisUrl } from '../../support/components.js';
import { eventually, series } from './support.js';

function batch(cluster: string, value: number): BusBatch {
  return {
    cluster,
    samples: [{ series: series(1, { cluster }), timestampsMs: [1], values: [value] }],
    events: [],
  };
}

const tick = () => new Promise((r) => setTimeout(r, 50));

/** The Bus contract, run against every implementation. */
function busContract(name: string, make: () => Promise<Bus>): void {
  describe(`${name} (Bus contract)`, () => {
    let bus: Bus;
    afterEach(async () => {
      await bus.close();
    });

    it('delivers a cluster only to its subscribers and every cluster to "*"', async () => {
      bus = await make();
      const c1: number[] = [];
      const all: string[] = [];
      bus.subscribe('c1', (b) => c1.push(b.samples[0]!.values[0]!));
      bus.subscribe('*', (b) => all.push(b.cluster));
      bus.publish(batch('c1', 1));
      bus.publish(batch('c2', 2));
      await eventually(() => expect(all).toEqual(['c1', 'c2']));
      expect(c1).toEqual([1]);
    });

    it('publish returns before subscribers run, and a throwing subscriber does not stop the others', async () => {
      bus = await make();
      const got: number[] = [];
      bus.subscribe('c1', () => {
        throw new Error('broken subscriber');
      });
      bus.subscribe('c1', (b) => got.push(b.samples[0]!.values[0]!));
      expect(() => bus.publish(batch('c1', 7))).not.toThrow();
      expect(got).toEqual([]);
      await eventually(() => expect(got).toEqual([7]));
    });

    it('stops delivering after unsubscribe (idempotent)', async () => {
      bus = await make();
      const got: number[] = [];
      const off = bus.subscribe('c1', (b) => got.push(b.samples[0]!.values[0]!));
      bus.publish(batch('c1', 1));
      await eventually(() => expect(got).toEqual([1]));
      off();
      off();
      bus.publish(batch('c1', 2));
      await tick();
      expect(got).toEqual([1]);
    });
  });
}

busContract('MemoryBus', async () => new MemoryBus());

describeWithComponent('redis', redisMissing, 'RedisBus', () => {
  const opened: RedisBus[] = [];
  const open = async (prefix: string, registry = new Registry()) => {
    const bus = new RedisBus({ url: redisUrl!, channelPrefix: prefix, registry });
    opened.push(bus);
    await bus.ready();
    return bus;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((b) => b.close()));
  });

  busContract('RedisBus', async () => {
    const bus = new RedisBus({ url: redisUrl!, channelPrefix: `aiops:test:${randomUUID()}` });
    await bus.ready();
    return bus;
  });

  it('carries batches between instances, each cluster only to instances that want it', async () => {
    const prefix = `aiops:test:${randomUUID()}`;
    const a = await open(prefix);
    const b = await open(prefix);
    const onB: BusBatch[] = [];
    const onA: BusBatch[] = [];
    b.subscribe('c1', (x) => onB.push(x));
    a.subscribe('c1', (x) => onA.push(x));
    const probe = new Redis(redisUrl!);
    try {
      await eventually(async () => {
        const [, n] = (await probe.pubsub('NUMSUB', `${prefix}:c1`)) as [string, number];
        expect(n).toBe(2);
      });
      const [, others] = (await probe.pubsub('NUMSUB', `${prefix}:c2`)) as [string, number];
      expect(others).toBe(0);
    } finally {
      probe.disconnect();
    }
    const sent: BusBatch = {
      cluster: 'c1',
      samples: [{ series: series(5), timestampsMs: [10, 20], values: [1.5, -2] }],
      events: [
        {
          cluster: 'c1',
          node: 'n1',
          timestampMs: 10,
          kind: 'ptp_state',
          severity: 'warning',
          source: 'ptp',
          entity: 'ens1f0',
          message: 'FREERUN',
          attributes: {},
        },
      ],
    };
    a.publish(sent);
    a.publish(batch('c2', 9));
    await eventually(() => expect(onB).toEqual([sent]));
    await tick();
    // A's own subscriber got it once, locally, not again from Redis.
    expect(onA).toEqual([sent]);
  });

  it('counts and drops undecodable payloads without disturbing delivery', async () => {
    const prefix = `aiops:test:${randomUUID()}`;
    const registry = new Registry();
    const b = await open(prefix, registry);
    const a = await open(prefix);
    const got: number[] = [];
    b.subscribe('c1', (x) => got.push(x.samples[0]!.values[0]!));
    const raw = new Redis(redisUrl!);
    try {
      await eventually(async () => {
        const [, n] = (await raw.pubsub('NUMSUB', `${prefix}:c1`)) as [string, number];
        expect(n).toBe(1);
      });
      await raw.publish(`${prefix}:c1`, '{not json');
      await raw.publish(`${prefix}:c1`, JSON.stringify({ v: 99 }));
    } finally {
      raw.disconnect();
    }
    a.publish(batch('c1', 3));
    await eventually(() => expect(got).toEqual([3]));
    const text = await registry.getSingleMetricAsString('aiops_bus_decode_errors_total');
    expect(text).toContain('aiops_bus_decode_errors_total{bus="redis"} 2');
  });
});
