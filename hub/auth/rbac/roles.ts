import type { Permission, Resource, Verb } from '../../api/access.js';

/**
 * The fixed roles. Like Kubernetes' view/edit/admin cluster roles they are
 * not editable: operators bind subjects to them, they do not define new ones.
 * - viewer: reads fleet data (clusters, telemetry, events, anomalies, agents).
 * - operator: viewer, plus acting on anomalies and events (acknowledge,
 *   annotate) and updating clusters and agents; no credentials, no RBAC.
 * - admin: everything, including credentials (enrollment tokens, cluster
 *   credentials), RBAC (bindings, API keys) and the audit log.
 */
export type Role = 'viewer' | 'operator' | 'admin';
export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

const READ: readonly Verb[] = ['get', 'list', 'watch'];
const ALL_VERBS: readonly Verb[] = ['get', 'list', 'watch', 'create', 'update', 'delete'];
const FLEET: readonly Resource[] = ['clusters', 'telemetry', 'events', 'anomalies', 'agents'];
const ALL_RESOURCES: readonly Resource[] = [...FLEET, 'credentials', 'rbac', 'audit'];

const GRANTS: Readonly<Record<Role, ReadonlySet<string>>> = {
  viewer: grants(FLEET, READ),
  operator: new Set([
    ...grants(FLEET, READ),
    ...grants(['anomalies', 'events'], ['create', 'update', 'delete']),
    ...grants(['clusters', 'agents'], ['update']),
  ]),
  admin: grants(ALL_RESOURCES, ALL_VERBS),
};

function grants(resources: readonly Resource[], verbs: readonly Verb[]): Set<string> {
  return new Set(resources.flatMap((r) => verbs.map((v) => `${v}:${r}`)));
}

export function roleGrants(role: Role, permission: Permission): boolean {
  return GRANTS[role].has(`${permission.verb}:${permission.resource}`);
}

/** The permissions of a role, for /me and the docs. */
export function rolePermissions(role: Role): Permission[] {
  return [...GRANTS[role]].map((g) => {
    const [verb, resource] = g.split(':') as [Verb, Resource];
    return { verb, resource };
  });
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}
