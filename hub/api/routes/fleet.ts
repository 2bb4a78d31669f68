import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { compareKey, entityStates, page, type EntityKey } from '../../fleet/entity-state.js';
import { gpuView, ptpView, sriovView } from '../../fleet/views.js';
import type { Store } from '../../store/store.js';
import type { Permission } from '../access.js';
import { clusterFilter } from '../access-guard.js';
import { decodeKeyCursor, encodeKeyCursor, type KeyedList } from '../cursors.js';
import { parseDuration } from '../query-params.js';
import { problemResponses } from '../schemas.js';

export interface FleetRoutesDeps {
  readonly store: Store;
}

const READ_TELEMETRY: Permission = { verb: 'get', resource: 'telemetry' };
const LIST_CLUSTERS: Permission = { verb: 'list', resource: 'clusters' };

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Union([schema, Type.Null()]);
const Pod = Nullable(Type.Object({ namespace: Type.String(), pod: Type.String(), container: Type.String() }));

const PageQuery = {
  cluster: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  node: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  cursor: Type.Optional(Type.String({ maxLength: 2048, description: 'nextCursor of the previous page' })),
};

/** Fleet order of a node row: cluster, node, then agent (two agents may report one node). */
function nodeKey(n: { cluster: string; node: string; agentId: string }): EntityKey {
  return [n.cluster, n.node, n.agentId];
}

/** One page of a fleet list after the request's cursor (which must be one of this list's). */
function pageOf<T>(
  list: KeyedList,
  items: readonly T[],
  keyOf: (item: T) => EntityKey,
  cursor: string | undefined,
  limit: number,
): { items: T[]; nextCursor: string | null } {
  const after = cursor === undefined ? null : decodeKeyCursor(list, cursor);
  const { items: slice, next } = page(items, keyOf, after, limit);
  return { items: slice, nextCursor: next === null ? null : encodeKeyCursor(list, next) };
}

/**
 * Fleet questions answered directly: which GPUs are throttling or had Xid
 * errors, which PTP clocks are in holdover, what each VF is doing and who
 * uses it, and the agents' status per cluster and node.
 */
export const fleetRoutes: FastifyPluginAsyncTypebox<FleetRoutesDeps> = async (app, { store }) => {
  app.get(
    '/fleet/gpus',
    {
      config: { permission: READ_TELEMETRY, scopedList: true },
      schema: {
        summary: 'GPUs and MIG devices with their latest state',
        tags: ['fleet'],
        querystring: Type.Object({
          ...PageQuery,
          throttling: Type.Optional(
            Type.Boolean({ description: 'only GPUs slowed by a power or thermal reason now' }),
          ),
          xid_within: Type.Optional(
            Type.String({ description: 'only GPUs with an Xid error within this duration, e.g. 1h' }),
          ),
        }),
        response: {
          200: Type.Object({
            gpus: Type.Array(
              Type.Object({
                cluster: Type.String(),
                node: Type.String(),
                uuid: Type.String(),
                kind: Type.String(),
                model: Nullable(Type.String()),
                index: Nullable(Type.String()),
                lastSeenMs: Type.Number(),
                utilizationRatio: Nullable(Type.Number()),
                memoryUsedBytes: Nullable(Type.Number()),
                memoryTotalBytes: Nullable(Type.Number()),
                temperatureCelsius: Nullable(Type.Number()),
                powerDrawWatts: Nullable(Type.Number()),
                powerLimitWatts: Nullable(Type.Number()),
                throttleReasons: Type.Array(Type.String()),
                eccVolatileSingleBit: Nullable(Type.Number()),
                eccVolatileDoubleBit: Nullable(Type.Number()),
                xidCount: Type.Integer({ description: 'Xid events within xid_within (default 1h)' }),
                lastXid: Nullable(Type.Number()),
                pod: Pod,
              }),
            ),
            nextCursor: Nullable(Type.String()),
          }),
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const q = request.query;
      const scope = clusterFilter(request);
      const windowMs = parseDuration('xid_within', q.xid_within ?? '1h');
      const [states, xids] = await Promise.all([
        entityStates(store, { ...scope, node: q.node, source: 'gpu', kinds: ['gpu', 'mig_device'] }),
        store.events({
          ...scope,
          node: q.node,
          source: 'gpu',
          kind: 'gpu_xid',
          startMs: Date.now() - windowMs,
          limit: 10_000,
        }),
      ]);
      let gpus = states.map((s) => gpuView(s, xids));
      if (q.throttling !== undefined)
        gpus = gpus.filter((g) => g.throttleReasons.length > 0 === q.throttling);
      if (q.xid_within !== undefined) gpus = gpus.filter((g) => g.xidCount > 0);
      const { items, nextCursor } = pageOf(
        'fleet/gpus',
        gpus,
        (g) => [g.cluster, g.node, g.uuid],
        q.cursor,
        q.limit,
      );
      return { gpus: items, nextCursor };
    },
  );

  app.get(
    '/fleet/ptp',
    {
      config: { permission: READ_TELEMETRY, scopedList: true },
      schema: {
        summary:
          'PTP clocks and ports with their state (clock state LOCKED/HOLDOVER/FREERUN, offset, grandmaster)',
        tags: ['fleet'],
        querystring: Type.Object({
          ...PageQuery,
          clock_state: Type.Optional(
            Type.Union([Type.Literal('LOCKED'), Type.Literal('HOLDOVER'), Type.Literal('FREERUN')]),
          ),
        }),
        response: {
          200: Type.Object({
            ptp: Type.Array(
              Type.Object({
                cluster: Type.String(),
                node: Type.String(),
                entity: Type.String(),
                kind: Type.String(),
                lastSeenMs: Type.Number(),
                interface: Nullable(Type.String()),
                portState: Nullable(Type.String()),
                clockState: Nullable(Type.String()),
                offsetSeconds: Nullable(Type.Number()),
                meanPathDelaySeconds: Nullable(Type.Number()),
                grandmasterPresent: Nullable(Type.Boolean()),
                grandmasterIdentity: Nullable(Type.String()),
                clockClass: Nullable(Type.Number()),
                grandmasterClockClass: Nullable(Type.Number()),
                attributes: Type.Record(Type.String(), Type.String()),
              }),
            ),
            nextCursor: Nullable(Type.String()),
          }),
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const q = request.query;
      const scope = clusterFilter(request);
      let views = (
        await entityStates(store, { ...scope, node: q.node, source: 'ptp', kinds: ['ptp_clock', 'ptp_port'] })
      ).map(ptpView);
      if (q.clock_state) views = views.filter((v) => v.clockState === q.clock_state);
      const { items, nextCursor } = pageOf(
        'fleet/ptp',
        views,
        (v) => [v.cluster, v.node, v.entity],
        q.cursor,
        q.limit,
      );
      return { ptp: items, nextCursor };
    },
  );

  app.get(
    '/fleet/sriov',
    {
      config: { permission: READ_TELEMETRY, scopedList: true },
      schema: {
        summary: 'SR-IOV PFs and VFs with counters and pod attribution',
        tags: ['fleet'],
        querystring: Type.Object({
          ...PageQuery,
          kind: Type.Optional(Type.Union([Type.Literal('nic_pf'), Type.Literal('nic_vf')])),
        }),
        response: {
          200: Type.Object({
            devices: Type.Array(
              Type.Object({
                cluster: Type.String(),
                node: Type.String(),
                pciAddress: Type.String(),
                kind: Type.String(),
                lastSeenMs: Type.Number(),
                attributes: Type.Record(Type.String(), Type.String()),
                counters: Type.Record(Type.String(), Type.Number()),
                pod: Pod,
              }),
            ),
            nextCursor: Nullable(Type.String()),
          }),
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const q = request.query;
      const scope = clusterFilter(request);
      const kinds = q.kind ? [q.kind] : ['nic_pf', 'nic_vf'];
      const views = (await entityStates(store, { ...scope, node: q.node, source: 'sriov', kinds })).map(
        sriovView,
      );
      const { items, nextCursor } = pageOf(
        'fleet/sriov',
        views,
        (v) => [v.cluster, v.node, v.pciAddress],
        q.cursor,
        q.limit,
      );
      return { devices: items, nextCursor };
    },
  );

  app.get(
    '/fleet/nodes',
    {
      config: { permission: LIST_CLUSTERS, scopedList: true },
      schema: {
        summary:
          'Clusters and nodes with their agents: last seen, version, acknowledged sequence, collectors up',
        tags: ['fleet'],
        querystring: Type.Object({
          cluster: PageQuery.cluster,
          limit: PageQuery.limit,
          cursor: PageQuery.cursor,
        }),
        response: {
          200: Type.Object({
            nextCursor: Nullable(Type.String()),
            nodes: Type.Array(
              Type.Object({
                cluster: Type.String(),
                node: Type.String(),
                agentId: Type.String(),
                version: Type.String(),
                lastSeenMs: Type.Number({
                  description:
                    "the later of the agent's last Hello and the newest health sample stored for its node",
                }),
                lastSequence: Type.Number(),
                collectorsUp: Type.Record(Type.String(), Type.Boolean(), {
                  description: 'per collector: its last run succeeded (an absent source still counts as up)',
                }),
                collectorsAbsent: Type.Record(Type.String(), Type.String(), {
                  description: 'collectors whose source is absent on the node, with the reason',
                }),
                spoolPendingRecords: Nullable(
                  Type.Number({ description: 'batches waiting in the agent spool' }),
                ),
                spoolBytes: Nullable(Type.Number()),
              }),
            ),
          }),
          ...problemResponses,
        },
      },
    },
    async (request) => {
      const scope = clusterFilter(request);
      const [agents, health, collectors] = await Promise.all([
        store.agents.list(scope.cluster ?? scope.clusters),
        store.latest({ ...scope, source: 'agent' }, 100_000),
        store.inventory({ ...scope, kind: 'collector' }),
      ]);
      const up = health.filter((v) => v.series.metric === 'agent_collector_up');
      const spool = (a: { cluster: string; node: string }, metric: string): number | null =>
        health.find(
          (v) => v.series.cluster === a.cluster && v.series.node === a.node && v.series.metric === metric,
        )?.value ?? null;
      const nodes = agents
        .map((a) => {
          const collectorsUp: Record<string, boolean> = {};
          // The registry records a Hello only (once per connection); the agent's
          // health samples (every collection) tell when the node was last heard of.
          let lastSeenMs = a.lastSeenMs;
          for (const v of health) {
            if (v.series.cluster === a.cluster && v.series.node === a.node)
              lastSeenMs = Math.max(lastSeenMs, v.timestampMs);
          }
          for (const v of up) {
            if (v.series.cluster === a.cluster && v.series.node === a.node && v.series.labels.collector) {
              collectorsUp[v.series.labels.collector] = v.value === 1;
            }
          }
          // "Up" means the collector ran; whether its source exists is the inventory's word.
          const collectorsAbsent: Record<string, string> = {};
          for (const c of collectors) {
            if (c.cluster === a.cluster && c.node === a.node && c.absent)
              collectorsAbsent[c.source] = c.absentReason;
          }
          return {
            cluster: a.cluster,
            node: a.node,
            agentId: a.agentId,
            version: a.version,
            lastSeenMs,
            lastSequence: a.lastSequence,
            collectorsUp,
            collectorsAbsent,
            spoolPendingRecords: spool(a, 'agent_spool_pending_records'),
            spoolBytes: spool(a, 'agent_spool_bytes'),
          };
        })
        .sort((x, y) => compareKey(nodeKey(x), nodeKey(y)));
      const { items, nextCursor } = pageOf(
        'fleet/nodes',
        nodes,
        nodeKey,
        request.query.cursor,
        request.query.limit,
      );
      return { nodes: items, nextCursor };
    },
  );
};
