import type pg from 'pg';
import { InputError, PermanentError } from '../../errors.js';
import type { Appender, BatchOutcome, BatchWrite, EventRecord, InventoryRecord, Severity } from '../store.js';
import type { SampleWriteMode } from './dialect.js';
import { mapPgError } from './pg-errors.js';
import { writeSamples } from './sample-writer.js';
import { withTransaction } from './sql-client.js';

export const SEVERITY_RANK: Readonly<Record<Severity, number>> = {
  info: 0,
  warning: 1,
  error: 2,
  critical: 3,
};

/**
 * Appender over PostgreSQL. commit() is one transaction:
 * 1. insert missing agent rows, then lock every agent's row (sorted by id, so
 *    two hubs committing overlapping agents cannot deadlock);
 * 2. drop batches at or below the locked high-water mark;
 * 3. one COPY (or one unnest INSERT on PGlite) for all remaining samples;
 * 4. events, inventory (newest observation wins), new high-water marks;
 * 5. COMMIT. Any failure rolls back everything.
 */
export class PgAppender implements Appender {
  private readonly batches: BatchWrite[] = [];
  private state: 'open' | 'done' = 'open';

  constructor(
    private readonly pool: pg.Pool,
    private readonly writeMode: SampleWriteMode,
  ) {}

  add(batch: BatchWrite): void {
    if (this.state !== 'open') throw new PermanentError('appender already committed or rolled back');
    validateBatch(batch);
    this.batches.push(batch);
  }

  rollback(): void {
    this.state = 'done';
    this.batches.length = 0;
  }

  async commit(): Promise<BatchOutcome[]> {
    if (this.state !== 'open') throw new PermanentError('appender already committed or rolled back');
    this.state = 'done';
    const batches = this.batches.splice(0);
    if (batches.length === 0) return [];
    const agentIds = [...new Set(batches.map((b) => b.agentId))].sort();
    try {
      return await withTransaction(this.pool, async (client) => {
        await client.query(
          'INSERT INTO agents (agent_id) SELECT a FROM unnest($1::text[]) AS u(a) ORDER BY a ON CONFLICT (agent_id) DO NOTHING',
          [agentIds],
        );
        const locked = await client.query<{ agent_id: string; last_sequence: string }>(
          'SELECT agent_id, last_sequence FROM agents WHERE agent_id = ANY($1::text[]) ORDER BY agent_id FOR UPDATE',
          [agentIds],
        );
        const hwm = new Map(locked.rows.map((r) => [r.agent_id, Number(r.last_sequence)]));
        const outcomes: BatchOutcome[] = [];
        const stored: BatchWrite[] = [];
        for (const b of batches) {
          const mark = hwm.get(b.agentId) ?? 0;
          if (b.sequence <= mark) {
            outcomes.push('duplicate');
            continue;
          }
          hwm.set(b.agentId, b.sequence);
          stored.push(b);
          outcomes.push('stored');
        }
        if (stored.length === 0) return outcomes;
        await writeSamples(client, stored, this.writeMode);
        await insertEvents(
          client,
          stored.flatMap((b) => b.events),
        );
        await upsertInventory(
          client,
          stored.flatMap((b) => b.inventory),
        );
        const moved = [...new Set(stored.map((b) => b.agentId))].sort();
        await client.query(
          `UPDATE agents SET last_sequence = u.s FROM unnest($1::text[], $2::int8[]) AS u(a, s)
           WHERE agents.agent_id = u.a`,
          [moved, moved.map((a) => hwm.get(a) as number)],
        );
        return outcomes;
      });
    } catch (err) {
      throw mapPgError(err, 'commit');
    }
  }
}

function validateBatch(b: BatchWrite): void {
  if (typeof b.agentId !== 'string' || b.agentId === '') throw new InputError('batch has no agent id');
  if (!Number.isSafeInteger(b.sequence) || b.sequence < 1) {
    throw new InputError(`batch sequence must be a positive integer, got ${b.sequence}`);
  }
  const n = b.seriesIds.length;
  if (b.timestampsMs.length !== n || b.values.length !== n) {
    throw new InputError(
      `batch columns differ in length: ${n} series ids, ${b.timestampsMs.length} timestamps, ${b.values.length} values`,
    );
  }
  for (let i = 0; i < n; i++) {
    const id = b.seriesIds[i] as number;
    if (!Number.isInteger(id) || id < 1 || id > 2_147_483_647)
      throw new InputError(`invalid series id ${id} at ${i}`);
    if (!Number.isFinite(b.timestampsMs[i] as number)) throw new InputError(`invalid timestamp at ${i}`);
  }
  for (const e of b.events) {
    if (!(e.severity in SEVERITY_RANK))
      throw new InputError(`invalid event severity ${JSON.stringify(e.severity)}`);
  }
}

async function insertEvents(client: pg.ClientBase, events: readonly EventRecord[]): Promise<void> {
  if (events.length === 0) return;
  await client.query(
    `INSERT INTO events (cluster, node, ts, kind, severity, source, entity, message, attributes)
     SELECT c, n, timestamptz 'epoch' + t * INTERVAL '1 millisecond', k, sv, src, e, m, a
     FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[], $5::int2[], $6::text[], $7::text[], $8::text[], $9::jsonb[])
       AS u(c, n, t, k, sv, src, e, m, a)`,
    [
      events.map((e) => e.cluster),
      events.map((e) => e.node),
      events.map((e) => e.timestampMs),
      events.map((e) => e.kind),
      events.map((e) => SEVERITY_RANK[e.severity]),
      events.map((e) => e.source),
      events.map((e) => e.entity),
      events.map((e) => e.message),
      events.map((e) => JSON.stringify(e.attributes)),
    ],
  );
}

async function upsertInventory(client: pg.ClientBase, records: readonly InventoryRecord[]): Promise<void> {
  if (records.length === 0) return;
  // One row per key (ON CONFLICT cannot touch a row twice in one statement):
  // the newest observation wins, ties go to the later one. Sorted by key so
  // concurrent commits lock inventory rows in the same order.
  const latest = new Map<string, InventoryRecord>();
  for (const r of records) {
    const key = JSON.stringify([r.cluster, r.node, r.source, r.entity]);
    const prev = latest.get(key);
    if (!prev || r.observedMs >= prev.observedMs) latest.set(key, r);
  }
  const rows = [...latest.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
  await client.query(
    `INSERT INTO inventory (cluster, node, source, entity, kind, observed, attributes, absent, absent_reason)
     SELECT c, n, src, e, k, timestamptz 'epoch' + t * INTERVAL '1 millisecond', a, ab, ar
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::jsonb[], $8::bool[], $9::text[])
       AS u(c, n, src, e, k, t, a, ab, ar)
     ON CONFLICT (cluster, node, source, entity) DO UPDATE SET kind = excluded.kind, observed = excluded.observed,
       attributes = excluded.attributes, absent = excluded.absent, absent_reason = excluded.absent_reason
     WHERE inventory.observed <= excluded.observed`,
    [
      rows.map((r) => r.cluster),
      rows.map((r) => r.node),
      rows.map((r) => r.source),
      rows.map((r) => r.entity),
      rows.map((r) => r.kind),
      rows.map((r) => r.observedMs),
      rows.map((r) => JSON.stringify(r.attributes)),
      rows.map((r) => r.absent),
      rows.map((r) => r.absentReason),
    ],
  );
}
