import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { InputError } from '../../errors.js';
import type { EnrollmentTokenInfo, EnrollmentTokens } from '../store.js';

/** Recognizable prefix so a leaked token is easy to spot (and to scan for). */
export const TOKEN_PREFIX = 'aiops_et_';
const TOKEN_PATTERN = /^aiops_et_[A-Za-z0-9_-]{43}$/;

interface TokenRow {
  id: string;
  cluster: string;
  description: string;
  created_at: Date;
  revoked_at: Date | null;
}

const COLUMNS = 'id, cluster, description, created_at, revoked_at';

function toInfo(r: TokenRow): EnrollmentTokenInfo {
  return {
    id: r.id,
    cluster: r.cluster,
    description: r.description,
    createdMs: r.created_at.getTime(),
    revokedMs: r.revoked_at ? r.revoked_at.getTime() : null,
  };
}

function sha256(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Tokens are 256 random bits (base64url); only their SHA-256 reaches the database. */
export class PgEnrollmentTokens implements EnrollmentTokens {
  constructor(private readonly pool: pg.Pool) {}

  async create(cluster: string, description: string): Promise<{ info: EnrollmentTokenInfo; token: string }> {
    if (cluster === '') throw new InputError('an enrollment token needs a cluster');
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const id = 'et_' + randomBytes(8).toString('hex');
    const r = await this.pool.query<TokenRow>(
      `INSERT INTO enrollment_tokens (id, cluster, description, token_sha256) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
      [id, cluster, description, sha256(token)],
    );
    return { info: toInfo(r.rows[0] as TokenRow), token };
  }

  async verify(token: string): Promise<EnrollmentTokenInfo | null> {
    // Malformed tokens never reach the database.
    if (!TOKEN_PATTERN.test(token)) return null;
    const r = await this.pool.query<TokenRow>(
      `SELECT ${COLUMNS} FROM enrollment_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL`,
      [sha256(token)],
    );
    return r.rows[0] ? toInfo(r.rows[0]) : null;
  }

  async list(cluster?: string | readonly string[]): Promise<EnrollmentTokenInfo[]> {
    const where =
      cluster === undefined
        ? ''
        : typeof cluster === 'string'
          ? 'WHERE cluster = $1'
          : 'WHERE cluster = ANY($1::text[])';
    const params = cluster === undefined ? [] : [typeof cluster === 'string' ? cluster : [...cluster]];
    const r = await this.pool.query<TokenRow>(
      `SELECT ${COLUMNS} FROM enrollment_tokens ${where} ORDER BY created_at, id`,
      params,
    );
    return r.rows.map(toInfo);
  }

  async revoke(id: string): Promise<boolean> {
    // Revoking twice keeps the first revocation time.
    const r = await this.pool.query(
      'UPDATE enrollment_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1',
      [id],
    );
    return (r.rowCount ?? 0) > 0;
  }
}
