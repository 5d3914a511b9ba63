import { allPermissions, type Permission } from './permissions.js';

/** The built-in roles, each a set of named permissions. Organizations may add custom roles. */
export const builtInRoles = {
  owner: allPermissions,
  // Exporting every row of the organization (GDPR, docs/gdpr.md) is the owners' alone, like deleting it.
  admin: allPermissions.filter((p) => p !== 'org:delete' && p !== 'billing:manage' && p !== 'org:export'),
  member: [
    'org:read',
    'members:read',
    'projects:read',
    'projects:create',
    'projects:update',
    'projects:delete',
    'usage:read',
  ],
  viewer: ['org:read', 'members:read', 'projects:read'],
} as const satisfies Record<string, readonly Permission[]>;

export type BuiltInRole = keyof typeof builtInRoles;

/** True for a built-in role key. */
export function isBuiltInRole(role: string): role is BuiltInRole {
  return Object.hasOwn(builtInRoles, role);
}

/**
 * True when `granted` holds every permission of `requested` (nobody grants above their own). An empty
 * `granted` covers nothing, not even a role granting nothing: who holds no permission (a pending member,
 * a caller with no membership) gives out no role at all.
 */
export function coversPermissions(
  granted: ReadonlySet<Permission>,
  requested: readonly Permission[],
): boolean {
  return granted.size > 0 && requested.every((p) => granted.has(p));
}

/** True for a known permission string. */
export function isPermission(p: string): p is Permission {
  return (allPermissions as readonly string[]).includes(p);
}
