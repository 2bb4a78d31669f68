import { describe, expect, it } from 'vitest';
import type { Authenticator, Principal } from '../api/access.js';
import { hubAuthenticator } from './authenticator.js';
import { TokenRejectedError } from './token-rejected.js';

/** An authenticator that names itself in the principal it returns. */
function named(name: string): Authenticator {
  return { authenticate: async () => ({ kind: 'user', id: name, name, groups: [] }) as Principal };
}

describe('hubAuthenticator', () => {
  const all = hubAuthenticator({ apiKeys: named('keys'), oidc: named('oidc'), adminToken: named('admin') });

  it('sends each token shape to the one verifier it is meant for', async () => {
    expect((await all.authenticate({ bearerToken: 'aiok_0123_abc' }))?.name).toBe('keys');
    expect((await all.authenticate({ bearerToken: 'h.p.s' }))?.name).toBe('oidc');
    expect((await all.authenticate({ bearerToken: 'aiops_admin_xyz' }))?.name).toBe('admin');
    expect(await all.authenticate({})).toBeNull();
  });

  it('rejects a token no configured verifier accepts', async () => {
    const keysOnly = hubAuthenticator({ apiKeys: named('keys') });
    await expect(keysOnly.authenticate({ bearerToken: 'h.p.s' })).rejects.toBeInstanceOf(TokenRejectedError);
    // Without OIDC, a JWT-shaped token is an admin-token candidate, never an API key.
    const adminOnly = hubAuthenticator({ adminToken: named('admin') });
    expect((await adminOnly.authenticate({ bearerToken: 'h.p.s' }))?.name).toBe('admin');
  });
});
