import { useMemo } from 'react';
import type { Permission } from '../../../../../src/platform/authz/permissions';
import { builtInRoles, isBuiltInRole, isPermission } from '../../../../../src/platform/authz/roles';
import { useRoles } from '../../members/api/listRoles';

/**
 * The permissions of `role` in `org`: a built-in role's from the server's own map
 * (src/platform/authz/roles.ts), a custom role's from `GET /v1/orgs/{org}/roles`. `ready` is false while
 * a custom role is being looked up.
 */
export function usePermissions(
  org: string,
  role: string,
): { ready: boolean; permissions: ReadonlySet<Permission> } {
  const builtIn = isBuiltInRole(role);
  const roles = useRoles(org, !builtIn);
  return useMemo(() => {
    if (builtIn) return { ready: true, permissions: new Set<Permission>(builtInRoles[role]) };
    const custom = roles.data?.data.find((r) => r.key === role);
    return {
      ready: !roles.isPending,
      permissions: new Set<Permission>((custom?.permissions ?? []).filter(isPermission)),
    };
  }, [builtIn, role, roles.data, roles.isPending]);
}
