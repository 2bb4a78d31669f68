/**
 * Reading user name and groups out of verified JWT claims, with the same
 * rules as kube-apiserver: a dot path to the claim, a string or an array of
 * strings, and a prefix added to each value.
 */

/** The value at a dot path (`realm_access.roles`), or undefined when any step is missing. */
export function claimAt(payload: Readonly<Record<string, unknown>>, path: string): unknown {
  let value: unknown = payload;
  for (const step of path.split('.')) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[step];
  }
  return value;
}

/**
 * Groups from the claim: absent means no groups; a string is one group; an
 * array must hold strings only. Returns null when the claim has another shape
 * (the token is then rejected rather than silently losing groups).
 */
export function groupsFrom(value: unknown, prefix: string): string[] | null {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return [prefix + value];
  if (Array.isArray(value) && value.every((v): v is string => typeof v === 'string')) {
    return value.map((v) => prefix + v);
  }
  return null;
}
