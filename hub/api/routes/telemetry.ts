import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Permission } from '../access.js';
import { clusterFilter } from '../access-guard.js';
import {
  decodeEventCursor,
  decodeKeyCursor,
  decodeSeriesCursor,
  encodeEventCursor,
  encodeKeyCursor,
  encodeSeriesCursor,
} from '../cursors.js';
import { parseDuration, parseMatchers, parseTime } from '../query-params.js';
import {
  EventSchema,
  InventorySchema,
  SelectorQuery,
  SeriesSchema,
  Severity,
  problemResponses,
} from '../schemas.js';
import type { SeriesSelector, Store } from '../../store/store.js';
import { InputError } from '../../errors.js';
import { compareKey, page, type EntityKey } from '../../fleet/entity-state.js';

export interface TelemetryRoutesDeps {
  readonly store: Store;
}

const READ_TELEMETRY: Permission = { verb: 'get', resource: 'telemetry' };
const LIST_EVENTS: Permission = { verb: 'list', resource: 'events' };
const LIST_AGENTS: Permission = { verb: 'list', resource: 'agents' };

const agentKey = (a: { cluster: string; node: string; agentId: string }): EntityKey => [
  a.cluster,
  a.node,
  a.agentId,
];

/** Most points one range query may return, to keep responses bounded. */
const MAX_POINTS = 200_000;

/** Read API over stored telemetry: series, range queries, latest values, events, inventory, agents. */
export const telemetryRoutes: FastifyPluginAsyncTypebox<TelemetryRoutesDeps> = async (app, { store }) => {
  const selectorFrom = (
    request: Parameters<typeof clusterFilter>[0],
    q: { node?: string; source?: string; entity?: string; metric?: string; match?: string[] },
  ): SeriesSelector => ({
    ...clusterFilter(request),
    node: q.node,
    source: q.source,
    entity: q.entity,
    metric: q.metric,
    matchers: parseMatchers(q.match),
  });

  app.get(
    '/series',
    {
      config: { permission: READ_TELEMETRY, scopedList: true },
      schema: {
        summary: 'Find series by selector, in id order, with cursor pagination',
        tags: ['telemetry'],
        querystring: Type.Object({
          ...SelectorQuery,
          limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 }),
          cursor: Type.Optional(
            Type.String({ maxLength: 512, description: 'nextCursor of the previous page (opaque)' }),
          ),
        }),
        response: {
          200: Type.Object({
            series: Type.Array(SeriesSchema),
            nextCursor: Type.Union([Type.String(), Type.Null()], {
              description: 'cursor of the next page; null when this page is the last',
            }),
          }),
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await store.seriesPage(selectorFrom(request, q), {
        afterId: q.cursor === undefined ? undefined : decodeSeriesCursor(q.cursor),
        limit: q.limit,
      });
      return {
        series: page.series,
        nextCursor: page.nextAfterId === null ? null : encodeSeriesCursor(page.nextAfterId),
      };
    },
  );

  app.get(
    '/query_range',
    {
      config: { permission: READ_TELEMETRY, scopedList: true },
      schema: {
        summary: 'Range query with step and aggregation',
        description:
          'Buckets of `step` between start and end, aggregated with avg, min, max or last. Steps of a minute or more read the continuous aggregates on TimescaleDB.',
        tags: ['telemetry'],
        querystring: Type.Object({
          ...SelectorQuery,
          start: Type.Optional(Type.String({ description: 'epoch ms or RFC 3339; default end - 1h' })),
          end: Type.Optional(Type.String({ description: 'epoch ms or RFC 3339; default now' })),
          step: Type.String({ default: '1m', description: 'bucket width: 15s, 1m, 1h or milliseconds' }),
          agg: Type.Union(
            [Type.Literal('avg'), Type.Literal('min'), Type.Literal('max'), Type.Literal('last')],
            {
              default: 'avg',
            },
          ),
          limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
        }),
        response: {
          200: Type.Object({
            startMs: Type.Number(),
            endMs: Type.Number(),
            stepMs: Type.Number(),
            series: Type.Array(
              Type.Object({
                series: SeriesSchema,
                points: Type.Array(Type.Object({ timestampMs: Type.Number(), value: Type.Number() })),
              }),
            ),
          }),
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const q = request.query;
      const endMs = parseTime('end', q.end, Date.now());
      const startMs = parseTime('start', q.start, endMs - 3_600_000);
      const stepMs = parseDuration('step', q.step);
      if (startMs >= endMs) throw new InputError('start must be before end');
      if (((endMs - startMs) / stepMs) * q.limit > MAX_POINTS) {
        throw new InputError(
          `query would return up to ${Math.ceil(((endMs - startMs) / stepMs) * q.limit)} points (max ${MAX_POINTS}): raise step, shorten the range or lower limit`,
        );
      }
      const selector = selectorFrom(request, q);
      const series = await store.queryRange({
        selector,
        startMs,
        endMs,
        stepMs,
        aggregation: q.agg,
        limitSeries: q.limit,
      });
      return { startMs, endMs, stepMs, series };
    },
  );

  app.get(
    '/latest',
    {
      config: { permission: READ_TELEMETRY, scopedList: true },
      schema: {
        summary: 'Latest value of each matching series',
        tags: ['telemetry'],
        querystring: Type.Object({
          ...SelectorQuery,
          limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 }),
        }),
        response: {
          200: Type.Object({
            values: Type.Array(
              Type.Object({ series: SeriesSchema, timestampMs: Type.Number(), value: Type.Number() }),
            ),
          }),
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const selector = selectorFrom(request, request.query);
      return { values: await store.latest(selector, request.query.limit) };
    },
  );

  app.get(
    '/events',
    {
      config: { permission: LIST_EVENTS, scopedList: true },
      schema: {
        summary:
          'Discrete events (Xid, throttling, PTP state changes, ...), newest first, with cursor pagination',
        description:
          'Ordered by time then insertion (order=desc, the default, newest first; order=asc oldest first). ' +
          'Follow nextCursor until it is null: pages are read by position, not offset, so events stored ' +
          'meanwhile are neither repeated nor make others skipped.',
        tags: ['telemetry'],
        querystring: Type.Object({
          cluster: SelectorQuery.cluster,
          node: SelectorQuery.node,
          source: SelectorQuery.source,
          entity: SelectorQuery.entity,
          kind: Type.Optional(Type.String({ maxLength: 128 })),
          min_severity: Type.Optional(Severity),
          start: Type.Optional(Type.String()),
          end: Type.Optional(Type.String()),
          order: Type.Optional(Type.Union([Type.Literal('desc'), Type.Literal('asc')])),
          limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
          cursor: Type.Optional(
            Type.String({ maxLength: 512, description: 'nextCursor of the previous page (opaque)' }),
          ),
        }),
        response: {
          200: Type.Object({
            events: Type.Array(EventSchema),
            nextCursor: Type.Union([Type.String(), Type.Null()], {
              description: 'cursor of the next page; null when this page is the last',
            }),
          }),
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const q = request.query;
      const cursor = q.cursor === undefined ? undefined : decodeEventCursor(q.cursor);
      if (cursor && q.order !== undefined && q.order !== cursor.order) {
        throw new InputError(`order: the cursor continues an order=${cursor.order} listing`);
      }
      const order = cursor?.order ?? q.order ?? 'desc';
      const page = await store.eventPage(
        {
          ...clusterFilter(request),
          node: q.node,
          source: q.source,
          entity: q.entity,
          kind: q.kind,
          minSeverity: q.min_severity,
          startMs: q.start === undefined ? undefined : parseTime('start', q.start, 0),
          endMs: q.end === undefined ? undefined : parseTime('end', q.end, 0),
        },
        { order, after: cursor?.position, limit: q.limit },
      );
      return {
        events: page.events,
        nextCursor: page.next === null ? null : encodeEventCursor(order, page.next),
      };
    },
  );

  app.get(
    '/inventory',
    {
      config: { permission: READ_TELEMETRY, scopedList: true },
      schema: {
        summary: 'Current inventory: GPUs, MIG devices, NIC PFs/VFs, PTP ports, collectors (absent ones too)',
        tags: ['telemetry'],
        querystring: Type.Object({
          cluster: SelectorQuery.cluster,
          node: SelectorQuery.node,
          source: SelectorQuery.source,
          kind: Type.Optional(Type.String({ maxLength: 64 })),
        }),
        response: { 200: Type.Object({ inventory: Type.Array(InventorySchema) }), ...problemResponses },
      },
    },
    async (request) => {
      const q = request.query;
      const inventory = await store.inventory({
        ...clusterFilter(request),
        node: q.node,
        source: q.source,
        kind: q.kind,
      });
      return { inventory };
    },
  );

  app.get(
    '/agents',
    {
      config: { permission: LIST_AGENTS, scopedList: true },
      schema: {
        summary: 'Agents known to the hub, with last contact and sequence, with cursor pagination',
        tags: ['fleet'],
        querystring: Type.Object({
          cluster: SelectorQuery.cluster,
          limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
          cursor: Type.Optional(
            Type.String({ maxLength: 2048, description: 'nextCursor of the previous page (opaque)' }),
          ),
        }),
        response: {
          200: Type.Object({
            nextCursor: Type.Union([Type.String(), Type.Null()]),
            agents: Type.Array(
              Type.Object({
                agentId: Type.String(),
                cluster: Type.String(),
                node: Type.String(),
                version: Type.String(),
                capabilities: Type.Array(Type.String()),
                lastSeenMs: Type.Number(),
                lastSequence: Type.Number(),
              }),
            ),
          }),
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const { cluster, clusters } = clusterFilter(request);
      const q = request.query;
      const after = q.cursor === undefined ? null : decodeKeyCursor('agents', q.cursor);
      // Fleet order (cluster, node, agent) in JS: the cursor compares keys the same way.
      const agents = (await store.agents.list(cluster ?? clusters))
        .map((a) => ({ ...a, capabilities: [...a.capabilities] }))
        .sort((x, y) => compareKey(agentKey(x), agentKey(y)));
      const { items, next } = page(agents, agentKey, after, q.limit);
      return { agents: items, nextCursor: next === null ? null : encodeKeyCursor('agents', next) };
    },
  );
};
