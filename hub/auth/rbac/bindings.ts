import { randomUUID } from 'node:crypto';
import { ConflictError, InputError } from '../../errors.js';
import type { SqlClient } from '../../store/store.js';
import { isRole, type Role } from './roles.js';

export type SubjectKind = 'user' | 'group' | 'api-key';

/** A subject bound to a role, on one cluster or (cluster null) on all clusters. */
export interface Binding {
  readonly id: string;
  readonly subjectKind: SubjectKind;
  /** User name or group name as the authenticator reports it (prefixes included), or an API key id. */
  readonly subject: string;
  readonly role: Role;
  readonly cluster: string | null;
  readonly createdBy: string;
  readonly createdMs: number;
}

export type NewBinding = Pick<Binding, 'subjectKind' | 'subject' | 'role' | 'cluster'>;

interface BindingRow {
  id: string;
  subject_kind: SubjectKind;
  subject: string;
  role: Role;
  cluster: string | null;
  created_by: string;
  created_ms: string | number;
}

const COLUMNS = 'id, subject_kind, subject, role, cluster, created_by, created_ms';

/** Role bindings kept in auth_bindings. */
export class BindingRepository {
  constructor(private readonly sql: Pick<SqlClient, 'query'>) {}

  async create(binding: NewBinding, createdBy: string, nowMs = Date.now()): Promise<Binding> {
    validate(binding);
    const id = `rb-${randomUUID()}`;
    try {
      const { rows } = await this.sql.query<BindingRow>(
        `INSERT INTO auth_bindings (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
        [id, binding.subjectKind, binding.subject, binding.role, binding.cluster, createdBy, nowMs],
      );
      return fromRow(rows[0] as BindingRow);
    } catch (err) {
      if ((err as { code?: string }).code === '23505') {
        throw new ConflictError('an identical binding exists already', { cause: err });
      }
      throw err;
    }
  }

  /**
   * Bindings, optionally only those that apply on one cluster or on any of a
   * list of clusters (all-clusters bindings included: they apply there too),
   * or of one subject.
   */
  async list(
    filter: {
      cluster?: string;
      clusters?: readonly string[];
      subjectKind?: SubjectKind;
      subject?: string;
    } = {},
  ): Promise<Binding[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.cluster !== undefined) {
      params.push(filter.cluster);
      where.push(`(cluster = $${params.length} OR cluster IS NULL)`);
    }
    if (filter.clusters !== undefined) {
      params.push([...filter.clusters]);
      where.push(`(cluster = ANY($${params.length}::text[]) OR cluster IS NULL)`);
    }
    if (filter.subjectKind !== undefined) {
      params.push(filter.subjectKind);
      where.push(`subject_kind = $${params.length}`);
    }
    if (filter.subject !== undefined) {
      params.push(filter.subject);
      where.push(`subject = $${params.length}`);
    }
    const { rows } = await this.sql.query<BindingRow>(
      `SELECT ${COLUMNS} FROM auth_bindings ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_ms, id`,
      params,
    );
    return rows.map(fromRow);
  }

  async get(id: string): Promise<Binding | null> {
    const { rows } = await this.sql.query<BindingRow>(`SELECT ${COLUMNS} FROM auth_bindings WHERE id = $1`, [
      id,
    ]);
    return rows[0] ? fromRow(rows[0]) : null;
  }

  /** Bindings that apply to a user with these groups, or to an API key. */
  async forSubjects(
    user: string | null,
    groups: readonly string[],
    apiKeyId: string | null,
  ): Promise<Binding[]> {
    const { rows } = await this.sql.query<BindingRow>(
      `SELECT ${COLUMNS} FROM auth_bindings
        WHERE (subject_kind = 'user' AND subject = $1)
           OR (subject_kind = 'group' AND subject = ANY($2::text[]))
           OR (subject_kind = 'api-key' AND subject = $3)`,
      [user, [...groups], apiKeyId],
    );
    return rows.map(fromRow);
  }

  async delete(id: string): Promise<boolean> {
    const { rows } = await this.sql.query<{ id: string }>(
      'DELETE FROM auth_bindings WHERE id = $1 RETURNING id',
      [id],
    );
    return rows.length > 0;
  }
}

/** Cluster names follow Kubernetes object names (RFC 1123 labels, up to 63 characters). */
export const CLUSTER_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function validate(binding: NewBinding): void {
  const problems: string[] = [];
  if (!['user', 'group', 'api-key'].includes(binding.subjectKind))
    problems.push('subjectKind must be user, group or api-key');
  if (binding.subject.trim() === '' || binding.subject.length > 256)
    problems.push('subject must be 1..256 characters');
  if (!isRole(binding.role)) problems.push('role must be viewer, operator or admin');
  if (binding.cluster !== null && !CLUSTER_NAME.test(binding.cluster))
    problems.push('cluster must be a cluster name or null');
  if (problems.length) throw new InputError(`invalid binding: ${problems.join('; ')}`);
}

function fromRow(row: BindingRow): Binding {
  return {
    id: row.id,
    subjectKind: row.subject_kind,
    subject: row.subject,
    role: row.role,
    cluster: row.cluster,
    createdBy: row.created_by,
    createdMs: Number(row.created_ms),
  };
}
