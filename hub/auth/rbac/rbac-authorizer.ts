import type { Authorizer, ClusterScope, Permission, Principal } from '../../api/access.js';
import type { BindingRepository } from './bindings.js';
import { roleGrants, type Role } from './roles.js';

/** Admins named in configuration: they can always get in, even with an empty database. */
export interface BootstrapAdmins {
  readonly users: readonly string[];
  readonly groups: readonly string[];
}

/** A binding as the authorizer evaluates it, whatever its source (table, API key, config). */
export interface EffectiveBinding {
  readonly role: Role;
  readonly cluster: string | null;
  readonly source: 'binding' | 'api-key' | 'bootstrap' | 'admin-token';
  readonly bindingId?: string;
}

/** The role and clusters an API key was created with (read by the authorizer). */
export interface ApiKeyScopeSource {
  scopeOf(keyId: string): Promise<{ role: Role; clusters: readonly string[] | null } | null>;
}

export interface RbacAuthorizerOptions {
  readonly bindings: BindingRepository;
  readonly apiKeys?: ApiKeyScopeSource;
  readonly bootstrapAdmins?: BootstrapAdmins;
  /** Bindings of a principal are cached this long (0: no cache). Changes made through this hub clear it. */
  readonly cacheTtlMs?: number;
}

/**
 * Role-based access control with cluster scope: a principal may do what the
 * union of its bindings grants, on the binding's cluster or on every cluster.
 * Anything not granted is denied (default deny). The admin-token principal
 * and bootstrap admins from configuration are admins on all clusters.
 */
export class RbacAuthorizer implements Authorizer {
  private readonly cache = new Map<string, { atMs: number; bindings: Promise<EffectiveBinding[]> }>();
  private readonly bootstrap: BootstrapAdmins;
  private readonly cacheTtlMs: number;

  constructor(private readonly options: RbacAuthorizerOptions) {
    this.bootstrap = options.bootstrapAdmins ?? { users: [], groups: [] };
    this.cacheTtlMs = options.cacheTtlMs ?? 2_000;
  }

  async allowed(principal: Principal, permission: Permission, cluster?: string): Promise<boolean> {
    const bindings = await this.effectiveBindings(principal);
    return bindings.some(
      (b) =>
        roleGrants(b.role, permission) &&
        (b.cluster === null || (cluster !== undefined && b.cluster === cluster)),
    );
  }

  async scope(principal: Principal, permission: Permission): Promise<ClusterScope> {
    const granting = (await this.effectiveBindings(principal)).filter((b) => roleGrants(b.role, permission));
    if (granting.some((b) => b.cluster === null)) return { all: true };
    return { all: false, clusters: [...new Set(granting.map((b) => b.cluster as string))].sort() };
  }

  /** Every binding that applies to the principal (shown by GET /me). */
  effectiveBindings(principal: Principal): Promise<EffectiveBinding[]> {
    const key = `${principal.kind}\u0000${principal.id}\u0000${principal.name}\u0000${principal.groups.join('\u0000')}`;
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && now - hit.atMs < this.cacheTtlMs) return hit.bindings;
    const bindings = this.load(principal);
    if (this.cacheTtlMs > 0) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, { atMs: now, bindings });
      bindings.catch(() => this.cache.delete(key));
    }
    return bindings;
  }

  /** Forget cached bindings (after a binding or API key changed). */
  invalidate(): void {
    this.cache.clear();
  }

  private async load(principal: Principal): Promise<EffectiveBinding[]> {
    if (principal.kind === 'admin-token') return [{ role: 'admin', cluster: null, source: 'admin-token' }];
    const out: EffectiveBinding[] = [];
    if (principal.kind === 'user') {
      const bootstrap =
        this.bootstrap.users.includes(principal.name) ||
        principal.groups.some((g) => this.bootstrap.groups.includes(g));
      if (bootstrap) out.push({ role: 'admin', cluster: null, source: 'bootstrap' });
    }
    if (principal.kind === 'api-key' && this.options.apiKeys) {
      const scope = await this.options.apiKeys.scopeOf(principal.id);
      if (scope) {
        for (const cluster of scope.clusters ?? [null])
          out.push({ role: scope.role, cluster, source: 'api-key' });
      }
    }
    const rows = await this.options.bindings.forSubjects(
      principal.kind === 'user' ? principal.name : null,
      principal.kind === 'user' ? principal.groups : [],
      principal.kind === 'api-key' ? principal.id : null,
    );
    for (const b of rows) out.push({ role: b.role, cluster: b.cluster, source: 'binding', bindingId: b.id });
    return out;
  }
}
