/**
 * One hub replica for the multi-process tests: fastify + the stream route +
 * a RedisBus, in its own process. Usage: replica-main.ts <redisUrl> <channelPrefix>.
 * Prints `{"port":N}` once listening; then each stdin line `{"publish":BusBatch}`
 * is published on this replica's bus (standing in for ingest after a commit)
 * and answered with `{"published":true}`. Serves /metrics for assertions.
 */
import { createInterface } from 'node:readline';
import fastify from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { BusBatch } from '../../../hub/bus/bus.js';
import { RedisBus } from '../../../hub/bus/redis-bus.js';
import { registerStreamRoute } from '../../../hub/stream/route.js';
import { GrantTable, TokenTable, user } from './support.js';

const [redisUrl, channelPrefix] = process.argv.slice(2);
if (!redisUrl || !channelPrefix) throw new Error('usage: replica-main.ts <redisUrl> <channelPrefix>');

const logger = pino({ level: process.env.AIOPS_TEST_LOG ?? 'silent' }, pino.destination(2));
const registry = new Registry();
const bus = new RedisBus({ url: redisUrl, channelPrefix, logger, registry });
const tokens = new TokenTable();
tokens.add('replica-token', user('alice'));
const grants = new GrantTable();
grants.grant('alice', 'telemetry', ['*']);
grants.grant('alice', 'events', ['*']);

const app = fastify({ logger: false });
await registerStreamRoute(app, { bus, authenticator: tokens, authorizer: grants, logger, registry });
app.get('/metrics', async (_req, reply) => reply.type('text/plain').send(await registry.metrics()));
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('no TCP address');
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);

createInterface({ input: process.stdin }).on('line', (line) => {
  const { publish } = JSON.parse(line) as { publish: BusBatch };
  bus.publish(publish);
  process.stdout.write(`${JSON.stringify({ published: true })}\n`);
});
process.stdin.on('end', () => {
  void app.close().then(() => bus.close());
});
