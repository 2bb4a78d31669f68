import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { InputError } from '../../errors.js';
import type { Authenticator, Credentials, Principal } from '../../api/access.js';
import type { SqlClient } from '../../store/store.js';
import { CLUSTER_NAME } from '../rbac/bindings.js';
import type { ApiKeyScopeSource } from '../rbac/rbac-authorizer.js';
import { isRole, type Role } from '../rbac/roles.js';
import { TokenRejectedError } from '../token-rejected.js';

/**
 * API keys for automation. A key reads `aiok_<id>_<secret>`: the prefix lets
 * secret scanners (and people) recognise a leaked key, the 16-hex id finds
 * the row without scanning, and the 256-bit secret is stored only as its
 * SHA-256 (a fast hash is enough for a random secret of that size: there is
 * no dictionary to try). The full key is returned once, at creation.
 */
export const API_KEY_PREFIX = 'aiok_';
const KEY_PATTERN = /^aiok_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface ApiKeyInfo {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  /** null: every cluster. */
  readonly clusters: readonly string[] | null;
  readonly createdBy: string;
  readonly createdMs: number;
  readonly expiresMs: number;
  readonly revokedMs: number | null;
  readonly lastUsedMs: number | null;
}

export interface NewApiKey {
  readonly name: string;
  readonly role: Role;
  readonly clusters: readonly string[] | null;
  readonly expiresInMs: number;
}

export interface ApiKeysOptions {
  /** Longest lifetime a key may be created with. */
  readonly maxLifetimeMs?: number;
  /** last_used_ms is written at most this often per key (reads are far more frequent than that). */
  readonly lastUsedWriteIntervalMs?: number;
  readonly logger: Logger;
}

interface KeyRow {
  id: string;
  name: string;
  secret_sha256: Uint8Array;
  role: Role;
  clusters: string[] | null;
  created_by: string;
  created_ms: string | number;
  expires_ms: string | number;
  revoked_ms: string | number | null;
  last_used_ms: string | number | null;
}

const COLUMNS =
  'id, name, secret_sha256, role, clusters, created_by, created_ms, expires_ms, revoked_ms, last_used_ms';

export class ApiKeys implements Authenticator, ApiKeyScopeSource {
  private readonly maxLifetimeMs: number;
  private readonly writeIntervalMs: number;
  private readonly lastWrittenMs = new Map<string, number>();

  constructor(
    private readonly sql: Pick<SqlClient, 'query'>,
    private readonly options: ApiKeysOptions,
  ) {
    this.maxLifetimeMs = options.maxLifetimeMs ?? 365 * 86_400_000;
    this.writeIntervalMs = options.lastUsedWriteIntervalMs ?? 60_000;
  }

  /** Creates a key; `key` is the only time the secret exists outside the caller. */
  async create(
    input: NewApiKey,
    createdBy: string,
    nowMs = Date.now(),
  ): Promise<{ info: ApiKeyInfo; key: string }> {
    const problems: string[] = [];
    if (input.name.trim() === '' || input.name.length > 128) problems.push('name must be 1..128 characters');
    if (!isRole(input.role)) problems.push('role must be viewer, operator or admin');
    if (input.clusters !== null) {
      if (input.clusters.length === 0) problems.push('clusters must be null (all) or a non-empty list');
      for (const c of input.clusters)
        if (!CLUSTER_NAME.test(c)) problems.push(`"${c}" is not a cluster name`);
    }
    if (!(
      Number.isInteger(input.expiresInMs) &&
      input.expiresInMs > 0 &&
      input.expiresInMs <= this.maxLifetimeMs
    )) {
      problems.push(`expiry must be between 1 ms and ${Math.floor(this.maxLifetimeMs / 86_400_000)} days`);
    }
    if (problems.length) throw new InputError(`invalid API key: ${problems.join('; ')}`);
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const clusters = input.clusters === null ? null : [...new Set(input.clusters)].sort();
    const { rows } = await this.sql.query<KeyRow>(
      `INSERT INTO auth_api_keys (id, name, secret_sha256, role, clusters, created_by, created_ms, expires_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
      [id, input.name, sha256(secret), input.role, clusters, createdBy, nowMs, nowMs + input.expiresInMs],
    );
    return { info: fromRow(rows[0] as KeyRow), key: `${API_KEY_PREFIX}${id}_${secret}` };
  }

  /**
   * All keys, or (with `clusters`) the keys that can act on any of those
   * clusters: keys scoped to one of them, and all-clusters keys, which reach
   * them too. A cluster admin thus sees every key that can touch its clusters.
   */
  async list(filter: { clusters?: readonly string[] } = {}): Promise<ApiKeyInfo[]> {
    const { rows } =
      filter.clusters === undefined
        ? await this.sql.query<KeyRow>(`SELECT ${COLUMNS} FROM auth_api_keys ORDER BY created_ms, id`)
        : await this.sql.query<KeyRow>(
            `SELECT ${COLUMNS} FROM auth_api_keys WHERE clusters IS NULL OR clusters && $1::text[]
              ORDER BY created_ms, id`,
            [[...filter.clusters]],
          );
    return rows.map(fromRow);
  }

  async get(id: string): Promise<ApiKeyInfo | null> {
    const { rows } = await this.sql.query<KeyRow>(`SELECT ${COLUMNS} FROM auth_api_keys WHERE id = $1`, [id]);
    return rows[0] ? fromRow(rows[0]) : null;
  }

  /** Revokes a key at once (idempotent); false when there is no such key. */
  async revoke(id: string, nowMs = Date.now()): Promise<boolean> {
    const { rows } = await this.sql.query<{ id: string }>(
      'UPDATE auth_api_keys SET revoked_ms = COALESCE(revoked_ms, $2) WHERE id = $1 RETURNING id',
      [id, nowMs],
    );
    return rows.length > 0;
  }

  /** Whether a bearer token has the shape of an API key (so the OIDC verifier need not look at it). */
  static looksLikeKey(token: string): boolean {
    return token.startsWith(API_KEY_PREFIX);
  }

  async authenticate(credentials: Credentials): Promise<Principal | null> {
    const token = credentials.bearerToken;
    if (token === undefined) return null;
    const m = KEY_PATTERN.exec(token);
    if (!m) throw new TokenRejectedError('malformed', 'API key is malformed');
    const [, id, secret] = m as unknown as [string, string, string];
    const { rows } = await this.sql.query<KeyRow>(`SELECT ${COLUMNS} FROM auth_api_keys WHERE id = $1`, [id]);
    const row = rows[0];
    // Compare even when the id is unknown, so timing does not tell which ids exist.
    const expected = row ? Buffer.from(row.secret_sha256) : Buffer.alloc(32);
    const matches = timingSafeEqual(sha256(secret), expected) && row !== undefined;
    if (!matches) throw new TokenRejectedError('unknown_credential', 'API key is not valid');
    const info = fromRow(row);
    const now = Date.now();
    if (info.revokedMs !== null) throw new TokenRejectedError('revoked', 'API key has been revoked');
    if (info.expiresMs <= now) throw new TokenRejectedError('expired', 'API key has expired');
    this.touch(info.id, now);
    return {
      kind: 'api-key',
      id: info.id,
      name: `api-key:${info.name}`,
      groups: [],
      expiresAtMs: info.expiresMs,
    };
  }

  async scopeOf(keyId: string): Promise<{ role: Role; clusters: readonly string[] | null } | null> {
    const info = await this.get(keyId);
    if (!info || info.revokedMs !== null || info.expiresMs <= Date.now()) return null;
    return { role: info.role, clusters: info.clusters };
  }

  /** Records last use without a write per request: once per interval per key, not awaited. */
  private touch(id: string, nowMs: number): void {
    const last = this.lastWrittenMs.get(id);
    if (last !== undefined && nowMs - last < this.writeIntervalMs) return;
    if (this.lastWrittenMs.size > 100_000) this.lastWrittenMs.clear();
    this.lastWrittenMs.set(id, nowMs);
    this.sql
      .query(
        'UPDATE auth_api_keys SET last_used_ms = $2 WHERE id = $1 AND (last_used_ms IS NULL OR last_used_ms < $2)',
        [id, nowMs],
      )
      .catch((err: unknown) => this.options.logger.warn({ err, keyId: id }, 'recording API key use failed'));
  }
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function fromRow(row: KeyRow): ApiKeyInfo {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    clusters: row.clusters,
    createdBy: row.created_by,
    createdMs: Number(row.created_ms),
    expiresMs: Number(row.expires_ms),
    revokedMs: row.revoked_ms === null ? null : Number(row.revoked_ms),
    lastUsedMs: row.last_used_ms === null ? null : Number(row.last_used_ms),
  };
}
