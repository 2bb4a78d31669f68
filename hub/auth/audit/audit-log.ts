import type { Logger } from 'pino';
import type { SqlClient } from '../../store/store.js';

export type AuditOutcome = 'success' | 'failure' | 'unauthenticated' | 'forbidden';

/** One audit record. It names who did what and how it ended, never a credential. */
export interface AuditEntry {
  readonly timeMs: number;
  readonly outcome: AuditOutcome;
  /** `create rbac`, `authenticate`, … or the route when no permission applies. */
  readonly action: string;
  readonly principalKind?: string;
  readonly principalId?: string;
  readonly principalName?: string;
  readonly cluster?: string;
  readonly method?: string;
  readonly path?: string;
  readonly status?: number;
  /** Why it failed (a stable reason like `expired`, or the error message). */
  readonly reason?: string;
  readonly remoteAddr?: string;
}

export interface StoredAuditEntry extends AuditEntry {
  readonly id: number;
}

export interface AuditQuery {
  readonly sinceMs?: number;
  readonly untilMs?: number;
  readonly outcome?: AuditOutcome;
  readonly principalId?: string;
  /** Only these clusters (and no cluster-less entries); undefined: everything. */
  readonly clusters?: readonly string[];
  /** Entries with an id below this (cursor of the previous page, newest first). */
  readonly beforeId?: number;
  readonly limit: number;
}

export interface AuditLogOptions {
  readonly logger: Logger;
  /** Entries waiting for the database beyond this are dropped and counted. */
  readonly maxQueued?: number;
  readonly flushIntervalMs?: number;
}

interface AuditRow {
  id: string | number;
  time_ms: string | number;
  outcome: AuditOutcome;
  action: string;
  principal_kind: string | null;
  principal_id: string | null;
  principal_name: string | null;
  cluster: string | null;
  method: string | null;
  path: string | null;
  status: number | null;
  reason: string | null;
  remote_addr: string | null;
}

const FIELDS = [
  'time_ms',
  'outcome',
  'action',
  'principal_kind',
  'principal_id',
  'principal_name',
  'cluster',
  'method',
  'path',
  'status',
  'reason',
  'remote_addr',
] as const;

/**
 * The audit log (table auth_audit). record() never blocks a request and
 * never throws: entries are queued and written in batches; when the
 * database lags far behind (a flood of failed logins), entries beyond
 * maxQueued are dropped and the number dropped is kept (`dropped`) and
 * logged, like every other bounded queue of the hub.
 */
export class AuditLog {
  private queue: AuditEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private droppedCount = 0;
  private readonly maxQueued: number;
  private readonly flushIntervalMs: number;

  constructor(
    private readonly sql: Pick<SqlClient, 'query'>,
    private readonly options: AuditLogOptions,
  ) {
    this.maxQueued = options.maxQueued ?? 10_000;
    this.flushIntervalMs = options.flushIntervalMs ?? 250;
  }

  get dropped(): number {
    return this.droppedCount;
  }

  record(entry: AuditEntry): void {
    if (this.queue.length >= this.maxQueued) {
      this.droppedCount++;
      if (this.droppedCount === 1 || this.droppedCount % 1000 === 0) {
        this.options.logger.warn({ dropped: this.droppedCount }, 'audit queue full; entries dropped');
      }
      return;
    }
    this.queue.push(entry);
    this.timer ??= setTimeout(() => void this.flush(), this.flushIntervalMs);
  }

  /** Writes everything queued so far (also used at shutdown and by tests). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.flushing) await this.flushing;
    const batch = this.queue.splice(0, 500);
    if (batch.length === 0) return;
    this.flushing = this.write(batch).finally(() => {
      this.flushing = undefined;
    });
    await this.flushing;
    if (this.queue.length > 0) await this.flush();
  }

  private async write(batch: readonly AuditEntry[]): Promise<void> {
    const params: unknown[] = [];
    const tuples = batch.map((e) => {
      const values = [
        e.timeMs,
        e.outcome,
        e.action,
        e.principalKind ?? null,
        e.principalId ?? null,
        e.principalName ?? null,
        e.cluster ?? null,
        e.method ?? null,
        e.path ?? null,
        e.status ?? null,
        e.reason ?? null,
        e.remoteAddr ?? null,
      ];
      const placeholders = values.map((v) => {
        params.push(v);
        return `$${params.length}`;
      });
      return `(${placeholders.join(', ')})`;
    });
    try {
      await this.sql.query(
        `INSERT INTO auth_audit (${FIELDS.join(', ')}) VALUES ${tuples.join(', ')}`,
        params,
      );
    } catch (err) {
      this.droppedCount += batch.length;
      this.options.logger.error({ err, dropped: batch.length }, 'writing audit entries failed');
    }
  }

  /** Newest first. */
  async query(q: AuditQuery): Promise<StoredAuditEntry[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: (p: string) => string, value: unknown) => {
      params.push(value);
      where.push(clause(`$${params.length}`));
    };
    if (q.sinceMs !== undefined) add((p) => `time_ms >= ${p}`, q.sinceMs);
    if (q.untilMs !== undefined) add((p) => `time_ms < ${p}`, q.untilMs);
    if (q.outcome !== undefined) add((p) => `outcome = ${p}`, q.outcome);
    if (q.principalId !== undefined) add((p) => `principal_id = ${p}`, q.principalId);
    if (q.clusters !== undefined) add((p) => `cluster = ANY(${p}::text[])`, [...q.clusters]);
    if (q.beforeId !== undefined) add((p) => `id < ${p}`, q.beforeId);
    params.push(q.limit);
    const { rows } = await this.sql.query<AuditRow>(
      `SELECT id, ${FIELDS.join(', ')} FROM auth_audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY id DESC LIMIT $${params.length}`,
      params,
    );
    return rows.map(fromRow);
  }

  close(): Promise<void> {
    return this.flush();
  }
}

function fromRow(row: AuditRow): StoredAuditEntry {
  const opt = <T>(v: T | null): T | undefined => (v === null ? undefined : v);
  return {
    id: Number(row.id),
    timeMs: Number(row.time_ms),
    outcome: row.outcome,
    action: row.action,
    principalKind: opt(row.principal_kind),
    principalId: opt(row.principal_id),
    principalName: opt(row.principal_name),
    cluster: opt(row.cluster),
    method: opt(row.method),
    path: opt(row.path),
    status: opt(row.status),
    reason: opt(row.reason),
    remoteAddr: opt(row.remote_addr),
  };
}
