import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { Permission } from '../../platform/authz/permissions.js';
import { builtInRoles, coversPermissions, isBuiltInRole, isPermission } from '../../platform/authz/roles.js';

/** A custom role key (the database checks the same form). */
export const ROLE_KEY_RE = /^[a-z][a-z0-9_]{1,39}$/;

/**
 * The permissions a role grants. A built-in key always means the built-in role (custom roles cannot
 * shadow one); any other key takes the organization's custom role permissions (`custom`, null when the
 * organization has no such role, which grants nothing). Unknown permission strings are ignored.
 */
export function permissionsOf(role: string, custom: readonly string[] | null): ReadonlySet<Permission> {
  if (isBuiltInRole(role)) return new Set<Permission>(builtInRoles[role]);
  return new Set((custom ?? []).filter(isPermission));
}

/** True when `holder` has every permission of `other` (so `other` does not exceed `holder`). */
export function covers(holder: ReadonlySet<Permission>, other: ReadonlySet<Permission>): boolean {
  return coversPermissions(holder, [...other]);
}

/** The permissions in `other` that `holder` lacks, sorted (for error details). */
export function missingPermissions(
  holder: ReadonlySet<Permission>,
  other: Iterable<Permission>,
): Permission[] {
  return [...new Set(other)].filter((p) => !holder.has(p)).sort();
}

/**
 * The permissions of `role` in `orgId`, read in the caller's tenant scope: a built-in role's, or the
 * organization's custom role's; null when the organization has no such role.
 */
export async function rolePermissionsIn(
  db: TenantDb,
  orgId: string,
  role: string,
): Promise<readonly Permission[] | null> {
  if (isBuiltInRole(role)) return [...builtInRoles[role]];
  const custom = await db
    .selectFrom('roles')
    .select('permissions')
    .where('organization_id', '=', orgId)
    .where('key', '=', role)
    .executeTakeFirst();
  return custom ? [...permissionsOf(role, custom.permissions)] : null;
}
