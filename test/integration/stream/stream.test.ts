import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../../hub/bus/memory-bus.js';
import { CloseCode } from '../../../hub/stream/protocol.js';
import type { StreamAccessDenied } from '../../../hub/stream/stream-hub.js';
import {
  GrantTable,
  TestClient,
  TokenTable,
  batch,
  eventually,
  metricValue,
  series,
  startHub,
  user,
  type TestHub,
} from './support.js';

// Real ws clients against a real fastify server with the in-process bus.
describe('WebSocket stream', () => {
  let bus: MemoryBus;
  let tokens: TokenTable;
  let grants: GrantTable;
  let hub: TestHub;
  const clients: TestClient[] = [];

  /** Starts `hub` with `config`; returns the refusals it reports for the audit log, as they come. */
  async function startAuditedHub(config: Parameters<typeof startHub>[3]): Promise<StreamAccessDenied[]> {
    const denied: StreamAccessDenied[] = [];
    hub = await startHub(bus, tokens, grants, config, { onAccessDenied: (d) => denied.push(d) });
    return denied;
  }

  async function connect(token: string | undefined, via: 'header' | 'protocol' = 'header', autoPong = true) {
    const c = await TestClient.connect(hub.url, token, via, { autoPong });
    clients.push(c);
    return c;
  }

  beforeEach(async () => {
    bus = new MemoryBus();
    tokens = new TokenTable();
    grants = new GrantTable();
    tokens.add('alice-token', user('alice'));
    grants.grant('alice', 'telemetry', ['*']);
    grants.grant('alice', 'events', ['*']);
    grants.grant('alice', 'anomalies', ['*']);
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await hub?.close();
    await bus.close();
  });

  describe('authentication at upgrade', () => {
    beforeEach(async () => {
      hub = await startHub(bus, tokens, grants);
    });

    it('accepts a bearer token in the Authorization header', async () => {
      const c = await connect('alice-token');
      c.send({ type: 'ping', id: 'p' });
      expect(await c.waitFor((m) => m.type === 'pong')).toEqual({ type: 'pong', id: 'p' });
    });

    it('accepts the token as a Kubernetes-style bearer subprotocol and selects aiops.stream.v1', async () => {
      const c = await connect('alice-token', 'protocol');
      expect(c.ws.protocol).toBe('aiops.stream.v1');
    });

    it('refuses missing, unknown and query-string tokens before upgrading', async () => {
      await expect(connect(undefined)).rejects.toThrow('HTTP 401');
      await expect(connect('mallory-token')).rejects.toThrow('HTTP 401');
      await expect(connect('mallory-token', 'protocol')).rejects.toThrow('HTTP 401');
      const url = hub.url;
      hub = { ...hub, url: `${url}?access_token=alice-token` };
      await expect(connect('alice-token')).rejects.toThrow('HTTP 400');
      hub = { ...hub, url };
      expect(await metricValue(hub.registry, 'aiops_stream_upgrades_rejected_total')).toBe(4);
    });
  });

  describe('credential lifetime', () => {
    it('closes with 4001 when the token expires', async () => {
      hub = await startHub(bus, tokens, grants);
      tokens.add('short', user('bob', Date.now() + 400));
      const c = await connect('short');
      expect(await c.waitClosed(3000)).toBe(CloseCode.tokenExpired);
      await eventually(async () =>
        expect(
          await metricValue(hub.registry, 'aiops_stream_disconnects_total', { reason: 'token_expired' }),
        ).toBe(1),
      );
    });

    it('closes with 4003 when re-authentication finds the token revoked, and reports it for the audit log', async () => {
      const denied = await startAuditedHub({ reauthIntervalMs: 200 });
      tokens.add('revocable', user('alice'));
      const c = await connect('revocable');
      const other = await connect('alice-token');
      tokens.revoke('revocable');
      expect(await c.waitClosed(3000)).toBe(CloseCode.credentialsRevoked);
      expect(other.closeCode).toBeUndefined();
      expect(denied).toEqual([
        expect.objectContaining({ outcome: 'unauthenticated', action: 'stream', path: '/api/v1/stream' }),
      ]);
      expect(denied[0]!.principal.id).toBe('alice');
      expect(JSON.stringify(denied)).not.toContain('revocable');
    });
  });

  describe('subscriptions', () => {
    beforeEach(async () => {
      hub = await startHub(bus, tokens, grants);
    });

    it('delivers matching samples with their series identity once, and nothing else', async () => {
      const c = await connect('alice-token');
      c.send({
        type: 'subscribe',
        id: 's1',
        stream: 'samples',
        selector: { cluster: 'c1', node: 'n1', matchers: [{ name: 'gpu', op: '=~', value: '1|2' }] },
      });
      expect(await c.waitFor((m) => m.type === 'ack')).toMatchObject({
        op: 'subscribe',
        id: 's1',
        clusters: ['c1'],
      });
      bus.publish(
        batch('c1', [
          { series: series(1), timestampsMs: [1000], values: [41] },
          { series: series(2), timestampsMs: [1000], values: [42] },
          { series: series(3), timestampsMs: [1000], values: [43] },
          { series: series(4, { node: 'n2', labels: { gpu: '1' } }), timestampsMs: [1000], values: [44] },
        ]),
      );
      bus.publish(batch('c2', [{ series: series(9, { cluster: 'c2' }), timestampsMs: [1000], values: [9] }]));
      const frame = await c.waitFor((m) => m.type === 'data');
      expect((frame.series as { id: number }[]).map((s) => s.id).sort()).toEqual([1, 2]);
      expect(c.samples('s1').sort()).toEqual([
        [1, 1000, 41],
        [2, 1000, 42],
      ]);
      bus.publish(batch('c1', [{ series: series(1), timestampsMs: [2000], values: [51] }]));
      const next = await c.waitFor((m) => m.type === 'data' && m !== frame);
      expect(next.series).toBeUndefined();
      expect(c.samples('s1')).toContainEqual([1, 2000, 51]);
    });

    it('RBAC: a cluster outside the grant is refused and an open selector sees only granted clusters', async () => {
      tokens.add('carol-token', user('carol'));
      grants.grant('carol', 'telemetry', ['c1']);
      const c = await connect('carol-token');
      c.send({ type: 'subscribe', id: 'x', stream: 'samples', selector: { cluster: 'c2' } });
      expect(await c.waitFor((m) => m.type === 'error')).toMatchObject({ code: 'forbidden', id: 'x' });
      c.send({ type: 'subscribe', id: 'e', stream: 'events', selector: {} });
      expect(await c.waitFor((m) => m.type === 'error' && m.id === 'e')).toMatchObject({ code: 'forbidden' });
      c.send({ type: 'subscribe', id: 'all', stream: 'samples', selector: {} });
      expect(await c.waitFor((m) => m.type === 'ack' && m.id === 'all')).toMatchObject({ clusters: ['c1'] });
      bus.publish(batch('c2', [{ series: series(9, { cluster: 'c2' }), timestampsMs: [1], values: [9] }]));
      bus.publish(batch('c1', [{ series: series(1), timestampsMs: [1], values: [1] }]));
      await c.waitFor((m) => m.type === 'data');
      await new Promise((r) => setTimeout(r, 150));
      expect(c.samples('all')).toEqual([[1, 1, 1]]);
      expect(hub.hub.busKeys()).toEqual(['c1']);
    });

    it('RBAC narrowed while subscribed: the lost cluster stops at once, pending aggregates included, and it is audited', async () => {
      await hub.close();
      const denied = await startAuditedHub({ reauthIntervalMs: 200 });
      tokens.add('dave-token', user('dave'));
      grants.grant('dave', 'telemetry', ['c1', 'c2']);
      const c = await connect('dave-token');
      // One point per series per 2 s: a second point within that is held as a pending aggregate.
      c.send({ type: 'subscribe', id: 'all', stream: 'samples', selector: {}, maxRateHz: 0.5 });
      await c.waitFor((m) => m.type === 'ack' && m.id === 'all');
      const c2 = series(9, { cluster: 'c2' });
      bus.publish(batch('c2', [{ series: c2, timestampsMs: [1], values: [1] }]));
      await eventually(async () => expect(c.samples('all')).toEqual([[9, 1, 1]]));
      bus.publish(batch('c2', [{ series: c2, timestampsMs: [2], values: [2] }]));
      grants.grant('dave', 'telemetry', ['c1']);
      await eventually(async () => expect(hub.hub.busKeys()).toEqual(['c1']));
      bus.publish(batch('c1', [{ series: series(1), timestampsMs: [3], values: [3] }]));
      await eventually(async () => expect(c.samples('all')).toContainEqual([1, 3, 3]));
      // Past the 2 s interval the pending c2 aggregate would have been emitted.
      await new Promise((r) => setTimeout(r, 2300));
      expect(c.samples('all').filter((t) => t[0] === 9)).toEqual([[9, 1, 1]]);
      expect(c.closeCode).toBeUndefined();
      expect(denied).toEqual([]);
    });

    it('refused subscriptions are audited and count as bad messages, so they cannot flood the audit log', async () => {
      await hub.close();
      const denied = await startAuditedHub({ maxBadMessages: 3 });
      tokens.add('erin-token', user('erin'));
      grants.grant('erin', 'telemetry', ['c1']);
      const c = await connect('erin-token');
      for (let i = 0; i < 10; i++) {
        c.send({ type: 'subscribe', id: `x${i}`, stream: 'samples', selector: { cluster: 'c2' } });
      }
      expect(await c.waitClosed(3000)).toBe(CloseCode.policyViolation);
      expect(denied.length).toBeGreaterThanOrEqual(1);
      expect(denied.length).toBeLessThanOrEqual(4);
      expect(denied[0]).toMatchObject({ outcome: 'forbidden', action: 'watch telemetry' });
      expect(denied[0]!.reason).toContain('cluster c2');
      expect(denied[0]!.cluster).toBeUndefined();
    });

    it('a new subscription spends its series budget on live series, not on every series seen before', async () => {
      await hub.close();
      hub = await startHub(bus, tokens, grants, { maxSeriesPerSubscription: 2 });
      const wide = await connect('alice-token');
      wide.send({ type: 'subscribe', id: 'w', stream: 'samples', selector: {} });
      await wide.waitFor((m) => m.type === 'ack');
      // Three series are seen (and cached by the router) and then go quiet.
      bus.publish(
        batch(
          'c1',
          [1, 2, 3].map((id) => ({ series: series(id), timestampsMs: [1], values: [id] })),
        ),
      );
      await wide.waitFor((m) => m.type === 'data');
      const late = await connect('alice-token');
      late.send({ type: 'subscribe', id: 'l', stream: 'samples', selector: {} });
      await late.waitFor((m) => m.type === 'ack');
      bus.publish(
        batch(
          'c1',
          [4, 5].map((id) => ({ series: series(id), timestampsMs: [2], values: [id] })),
        ),
      );
      await eventually(async () =>
        expect(late.samples('l').sort()).toEqual([
          [4, 2, 4],
          [5, 2, 5],
        ]),
      );
    });

    it('keeps the replica within maxFramesPerSecond by flushing each client every k-th tick, losing nothing', async () => {
      await hub.close();
      // 3 clients at a 20 ms tick would be 150 frames/s; a budget of 50 flushes each every 3rd tick.
      hub = await startHub(bus, tokens, grants, {
        flushIntervalMs: 20,
        maxFramesPerSecond: 50,
        maxRateHz: 1000,
      });
      const clients = await Promise.all([0, 1, 2].map(() => connect('alice-token')));
      for (const c of clients) c.send({ type: 'subscribe', id: 's', stream: 'samples', selector: {} });
      await Promise.all(clients.map((c) => c.waitFor((m) => m.type === 'ack')));
      const started = Date.now();
      let n = 0;
      while (Date.now() - started < 1000) {
        n++;
        bus.publish(batch('c1', [{ series: series(n), timestampsMs: [n], values: [n] }]));
        await new Promise((r) => setTimeout(r, 5));
      }
      await eventually(async () => {
        for (const c of clients) expect(c.samples('s')).toHaveLength(n);
      });
      for (const c of clients) {
        const frames = c.messages.filter((m) => m.type === 'data').length;
        // ~1,000 ms / 60 ms = 17 frames, against ~50 at one frame per tick.
        expect(frames).toBeLessThanOrEqual(25);
        expect(frames).toBeGreaterThanOrEqual(5);
      }
    });

    it('delivers events (never coalesced) and anomalies by selector', async () => {
      const c = await connect('alice-token');
      c.send({ type: 'subscribe', id: 'ev', stream: 'events', selector: { minSeverity: 'error' } });
      c.send({
        type: 'subscribe',
        id: 'an',
        stream: 'anomalies',
        selector: { metric: 'gpu_temperature_celsius' },
      });
      await c.waitFor((m) => m.type === 'ack' && m.id === 'an');
      await c.waitFor((m) => m.type === 'ack' && m.id === 'ev');
      const event = (severity: 'info' | 'error', message: string) => ({
        cluster: 'c1',
        node: 'n1',
        timestampMs: 5,
        kind: 'gpu_xid',
        severity,
        source: 'gpu',
        entity: 'GPU-1',
        message,
        attributes: { xid: '79' },
      });
      bus.publish({
        cluster: 'c1',
        samples: [],
        events: [event('info', 'minor'), event('error', 'fell off the bus')],
        anomalies: [
          { series: series(1), timestampMs: 5, value: 99, score: 0.97, reason: 'spike', detector: 'rcf' },
        ],
      });
      const frame = await c.waitFor((m) => m.type === 'data');
      const subs = frame.subs as Record<
        string,
        { events?: { message: string }[]; anomalies?: { seriesId: number }[] }
      >;
      expect(subs.ev?.events?.map((e) => e.message)).toEqual(['fell off the bus']);
      expect(subs.an?.anomalies?.[0]).toMatchObject({ seriesId: 1, score: 0.97, reason: 'spike' });
    });

    it('downsamples to maxRateHz: first point at once, then the average of the interval', async () => {
      const c = await connect('alice-token');
      c.send({
        type: 'subscribe',
        id: 'd',
        stream: 'samples',
        selector: {},
        maxRateHz: 2,
        aggregation: 'avg',
      });
      expect(await c.waitFor((m) => m.type === 'ack')).toMatchObject({ intervalMs: 500, aggregation: 'avg' });
      for (let i = 0; i < 10; i++) {
        bus.publish(batch('c1', [{ series: series(1), timestampsMs: [1000 + i], values: [i] }]));
      }
      await c.waitFor(() => c.samples('d').length >= 2, 3000);
      expect(c.samples('d')).toEqual([
        [1, 1000, 0],
        [1, 1009, 5], // mean of 1..9, stamped with the last timestamp
      ]);
      expect(await metricValue(hub.registry, 'aiops_stream_samples_downsampled_total')).toBe(8);
    });

    it('acks unsubscribe and stops delivery; rejects duplicates and unknown ids', async () => {
      const c = await connect('alice-token');
      c.send({ type: 'subscribe', id: 'a', stream: 'samples', selector: { cluster: 'c1' } });
      await c.waitFor((m) => m.type === 'ack');
      c.send({ type: 'subscribe', id: 'a', stream: 'samples', selector: {} });
      expect(await c.waitFor((m) => m.type === 'error')).toMatchObject({
        code: 'duplicate_subscription',
        id: 'a',
      });
      c.send({ type: 'unsubscribe', id: 'a' });
      await c.waitFor((m) => m.type === 'ack' && m.op === 'unsubscribe');
      expect(hub.hub.busKeys()).toEqual([]);
      c.send({ type: 'unsubscribe', id: 'a' });
      expect(await c.waitFor((m) => m.type === 'error' && m.code === 'unknown_subscription')).toMatchObject({
        id: 'a',
      });
    });
  });

  describe('bad input', () => {
    it('answers bad JSON, unknown types, invalid fields and oversized frames with errors, then closes repeat abusers only', async () => {
      hub = await startHub(bus, tokens, grants, { maxBadMessages: 5, maxMessageBytes: 1024 });
      const bad = await connect('alice-token');
      const good = await connect('alice-token');
      good.send({ type: 'subscribe', id: 'g', stream: 'samples', selector: {} });
      await good.waitFor((m) => m.type === 'ack');

      bad.send('{not json');
      expect(await bad.waitFor((m) => m.type === 'error')).toMatchObject({ code: 'invalid_json' });
      bad.send({ type: 'launch' });
      expect(await bad.waitFor((m) => m.code === 'unknown_type')).toMatchObject({ type: 'error' });
      bad.send({ type: 'subscribe', id: 'z', stream: 'samples', selector: { cluster: 5 } });
      expect(await bad.waitFor((m) => m.code === 'invalid_message')).toMatchObject({ id: 'z' });
      bad.send({
        type: 'subscribe',
        id: 'r',
        stream: 'samples',
        selector: { matchers: [{ name: 'a', op: '=~', value: '(' }] },
      });
      expect(await bad.waitFor((m) => m.code === 'invalid_message' && m.id === 'r')).toBeTruthy();
      bad.send(JSON.stringify({ type: 'ping', id: 'x'.repeat(2000) }));
      expect(await bad.waitFor((m) => m.code === 'message_too_large')).toBeTruthy();
      expect(bad.closeCode).toBeUndefined();
      bad.send('[]');
      expect(await bad.waitClosed()).toBe(CloseCode.policyViolation);
      await eventually(() => expect(hub.hub.connectionCount).toBe(1));

      bus.publish(batch('c1', [{ series: series(1), timestampsMs: [7], values: [7] }]));
      await good.waitFor((m) => m.type === 'data');
      expect(good.closeCode).toBeUndefined();
      expect(await metricValue(hub.registry, 'aiops_stream_disconnects_total', { reason: 'abuse' })).toBe(1);
    });

    it('closes with 1009 a frame above the hard payload cap without buffering it', async () => {
      hub = await startHub(bus, tokens, grants, { maxMessageBytes: 1024, hardMaxMessageBytes: 4096 });
      const c = await connect('alice-token');
      c.send('x'.repeat(10_000));
      expect(await c.waitClosed()).toBe(CloseCode.messageTooBig);
    });
  });

  describe('heartbeat', () => {
    it('terminates a client that stops answering pings and frees its subscriptions', async () => {
      hub = await startHub(bus, tokens, grants, { pingIntervalMs: 100, pongTimeoutMs: 300 });
      const silent = await connect('alice-token', 'header', false);
      const alive = await connect('alice-token');
      silent.send({ type: 'subscribe', id: 's', stream: 'samples', selector: { cluster: 'silent' } });
      await silent.waitFor((m) => m.type === 'ack');
      expect(hub.hub.busKeys()).toEqual(['silent']);
      await silent.waitClosed(3000);
      await eventually(() => expect(hub.hub.connectionCount).toBe(1));
      expect(hub.hub.busKeys()).toEqual([]);
      expect(alive.closeCode).toBeUndefined();
      expect(await metricValue(hub.registry, 'aiops_stream_disconnects_total', { reason: 'heartbeat' })).toBe(
        1,
      );
    });
  });
});
