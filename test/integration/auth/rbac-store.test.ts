import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../../hub/api/access.js';
import { ApiKeys } from '../../../hub/auth/api-keys/api-keys.js';
import { AuditLog } from '../../../hub/auth/audit/audit-log.js';
import { BindingRepository } from '../../../hub/auth/rbac/bindings.js';
import { RbacAuthorizer } from '../../../hub/auth/rbac/rbac-authorizer.js';
import { TokenRejectedError } from '../../../hub/auth/token-rejected.js';
import { ConflictError, InputError } from '../../../hub/errors.js';
import { describeWithComponent } from '../../support/components.js';
import { engines, type TestDatabase } from './support/databases.js';

const silent = pino({ level: 'silent' });
const user = (name: string, groups: string[] = []): Principal => ({
  kind: 'user',
  id: `iss#${name}`,
  name,
  groups,
});
const read = { verb: 'list', resource: 'telemetry' } as const;
const mint = { verb: 'create', resource: 'credentials' } as const;

async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'accepted';
  } catch (err) {
    if (err instanceof TokenRejectedError) return err.reason;
    throw err;
  }
}

for (const engine of engines) {
  describeWithComponent(engine.name, engine.missing, `auth repositories on ${engine.name}`, () => {
    let db: TestDatabase;
    let bindings: BindingRepository;
    let apiKeys: ApiKeys;
    let authz: RbacAuthorizer;

    beforeAll(async () => {
      db = await engine.open();
      bindings = new BindingRepository(db.sql);
      apiKeys = new ApiKeys(db.sql, { logger: silent, lastUsedWriteIntervalMs: 0 });
      authz = new RbacAuthorizer({
        bindings,
        apiKeys,
        bootstrapAdmins: { users: ['root@example.com'], groups: ['hub-admins'] },
        cacheTtlMs: 0,
      });
    });
    afterAll(async () => {
      await db?.close();
    });

    describe('RbacAuthorizer', () => {
      it('denies by default', async () => {
        expect(await authz.allowed(user('nobody'), read, 'east')).toBe(false);
        expect(await authz.allowed(user('nobody'), read)).toBe(false);
        expect(await authz.scope(user('nobody'), read)).toEqual({ all: false, clusters: [] });
      });

      it('scopes a cluster binding to its cluster and filters lists to it', async () => {
        await bindings.create(
          { subjectKind: 'user', subject: 'ada', role: 'viewer', cluster: 'east' },
          'test',
        );
        expect(await authz.allowed(user('ada'), read, 'east')).toBe(true);
        expect(await authz.allowed(user('ada'), read, 'west')).toBe(false);
        expect(await authz.allowed(user('ada'), read)).toBe(false);
        expect(await authz.allowed(user('ada'), mint, 'east')).toBe(false);
        expect(await authz.scope(user('ada'), read)).toEqual({ all: false, clusters: ['east'] });
      });

      it('grants through groups at all-clusters scope', async () => {
        await bindings.create(
          { subjectKind: 'group', subject: 'sre', role: 'operator', cluster: null },
          'test',
        );
        const bob = user('bob', ['sre']);
        expect(await authz.allowed(bob, { verb: 'update', resource: 'anomalies' }, 'west')).toBe(true);
        expect(await authz.allowed(bob, { verb: 'update', resource: 'anomalies' })).toBe(true);
        expect(await authz.allowed(bob, { verb: 'create', resource: 'rbac' })).toBe(false);
        expect(await authz.scope(bob, read)).toEqual({ all: true });
      });

      it('makes bootstrap admins from configuration admins everywhere', async () => {
        expect(await authz.allowed(user('root@example.com'), mint)).toBe(true);
        expect(
          await authz.allowed(user('eve', ['hub-admins']), { verb: 'delete', resource: 'rbac' }, 'x'),
        ).toBe(true);
        expect(await authz.allowed(user('eve', ['hub-admin']), mint)).toBe(false);
      });

      it('refuses duplicate and invalid bindings', async () => {
        await expect(
          bindings.create({ subjectKind: 'user', subject: 'ada', role: 'viewer', cluster: 'east' }, 'test'),
        ).rejects.toBeInstanceOf(ConflictError);
        await expect(
          bindings.create(
            { subjectKind: 'user', subject: '', role: 'boss' as 'admin', cluster: 'East!' },
            'test',
          ),
        ).rejects.toThrow(InputError);
      });

      it('stops granting when a binding is deleted', async () => {
        const b = await bindings.create(
          { subjectKind: 'user', subject: 'tmp', role: 'admin', cluster: 'east' },
          't',
        );
        expect(await authz.allowed(user('tmp'), mint, 'east')).toBe(true);
        expect(await bindings.delete(b.id)).toBe(true);
        expect(await bindings.delete(b.id)).toBe(false);
        expect(await authz.allowed(user('tmp'), mint, 'east')).toBe(false);
      });
    });

    describe('ApiKeys', () => {
      it('authenticates a new key, scoped to its role and clusters, and records last use', async () => {
        const { info, key } = await apiKeys.create(
          { name: 'ci', role: 'viewer', clusters: ['east'], expiresInMs: 3_600_000 },
          'admin',
        );
        expect(key).toMatch(/^aiok_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
        const principal = await apiKeys.authenticate({ bearerToken: key });
        expect(principal).toMatchObject({ kind: 'api-key', id: info.id, name: 'api-key:ci' });
        expect(await authz.allowed(principal as Principal, read, 'east')).toBe(true);
        expect(await authz.allowed(principal as Principal, read, 'west')).toBe(false);
        expect(await authz.allowed(principal as Principal, mint, 'east')).toBe(false);
        await new Promise((r) => setTimeout(r, 50));
        expect((await apiKeys.get(info.id))?.lastUsedMs).toBeGreaterThan(0);
      });

      it('stores only a hash of the secret', async () => {
        const { info, key } = await apiKeys.create(
          { name: 'h', role: 'admin', clusters: null, expiresInMs: 60_000 },
          'a',
        );
        const secret = key.split('_').slice(2).join('_');
        const { rows } = await db.sql.query<Record<string, unknown>>(
          'SELECT * FROM auth_api_keys WHERE id = $1',
          [info.id],
        );
        const dump = JSON.stringify(rows, (_k, v: unknown) =>
          v instanceof Uint8Array ? Buffer.from(v).toString('base64url') : v,
        );
        expect(dump).not.toContain(secret);
        expect(dump).not.toContain(key);
      });

      it('rejects revoked, expired, unknown and malformed keys', async () => {
        const { info, key } = await apiKeys.create(
          { name: 'r', role: 'viewer', clusters: null, expiresInMs: 60_000 },
          'a',
        );
        expect(await apiKeys.revoke(info.id)).toBe(true);
        expect(await rejection(apiKeys.authenticate({ bearerToken: key }))).toBe('revoked');
        expect(await authz.allowed({ kind: 'api-key', id: info.id, name: 'x', groups: [] }, read)).toBe(
          false,
        );

        const old = await apiKeys.create(
          { name: 'e', role: 'viewer', clusters: null, expiresInMs: 1_000 },
          'a',
          Date.now() - 5_000,
        );
        expect(await rejection(apiKeys.authenticate({ bearerToken: old.key }))).toBe('expired');

        const forged = key.slice(0, -4) + 'AAAA';
        expect(await rejection(apiKeys.authenticate({ bearerToken: forged }))).toBe('unknown_credential');
        expect(
          await rejection(apiKeys.authenticate({ bearerToken: `aiok_0000000000000000_${'A'.repeat(43)}` })),
        ).toBe('unknown_credential');
        expect(await rejection(apiKeys.authenticate({ bearerToken: 'aiok_short' }))).toBe('malformed');
        expect(await apiKeys.revoke('0000000000000000')).toBe(false);
      });

      it('refuses invalid keys at creation with every problem named', async () => {
        await expect(
          apiKeys.create({ name: '', role: 'viewer', clusters: [], expiresInMs: 10 * 365 * 86_400_000 }, 'a'),
        ).rejects.toThrow(/name must be.*clusters must be.*expiry must be/);
      });
    });

    describe('AuditLog', () => {
      it('writes queued entries in batches and pages newest first, filtered by cluster', async () => {
        const audit = new AuditLog(db.sql, { logger: silent });
        const t0 = Date.now();
        for (let i = 0; i < 30; i++) {
          audit.record({
            timeMs: t0 + i,
            outcome: i % 3 === 0 ? 'forbidden' : 'success',
            action: `a${i}`,
            cluster: i % 2 ? 'east' : 'west',
          });
        }
        await audit.flush();
        const first = await audit.query({ limit: 10, sinceMs: t0 });
        expect(first.map((e) => e.action)).toEqual(Array.from({ length: 10 }, (_, i) => `a${29 - i}`));
        const next = await audit.query({ limit: 10, sinceMs: t0, beforeId: first.at(-1)?.id });
        expect(next[0]?.action).toBe('a19');
        const east = await audit.query({ limit: 100, sinceMs: t0, clusters: ['east'] });
        expect(east).toHaveLength(15);
        expect((await audit.query({ limit: 100, sinceMs: t0, outcome: 'forbidden' })).length).toBe(10);
      });

      it('drops and counts entries beyond its bound instead of growing without limit', async () => {
        const audit = new AuditLog(db.sql, { logger: silent, maxQueued: 5 });
        for (let i = 0; i < 8; i++) audit.record({ timeMs: 1, outcome: 'success', action: 'flood' });
        expect(audit.dropped).toBe(3);
        await audit.flush();
        expect((await audit.query({ limit: 100, untilMs: 2 })).length).toBe(5);
      });
    });
  });
}
