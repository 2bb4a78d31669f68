import { describe, expect, it } from 'vitest';
import { claimAt, groupsFrom } from './claims.js';

describe('claims', () => {
  it('follows a dot path and stops at missing or non-object steps', () => {
    const payload = { realm_access: { roles: ['a'] }, groups: 'g', n: 1 };
    expect(claimAt(payload, 'realm_access.roles')).toEqual(['a']);
    expect(claimAt(payload, 'realm_access.missing')).toBeUndefined();
    expect(claimAt(payload, 'n.x')).toBeUndefined();
    expect(claimAt(payload, 'groups')).toBe('g');
  });

  it('reads groups like kube-apiserver: absent, one string, or strings only', () => {
    expect(groupsFrom(undefined, 'oidc:')).toEqual([]);
    expect(groupsFrom('ops', 'oidc:')).toEqual(['oidc:ops']);
    expect(groupsFrom(['a', 'b'], '')).toEqual(['a', 'b']);
    expect(groupsFrom(['a', 2], '')).toBeNull();
    expect(groupsFrom({ a: 1 }, '')).toBeNull();
  });
});
