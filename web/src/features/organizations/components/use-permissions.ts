import { useMemo } from 'react';
import type { Permission } from '../../../../../src/platform/authz/permissions';
import { builtInRoles, isBuiltInRole, isPermission } from '../../../../../src/platform/authz/roles';
import { useOrganization } from '../api/getOrganization';

/**
 * The permissions of `role` in `org`: a built-in role's from the server's own map
 * (src/platform/authz/roles.ts), at once; a custom role's as the server resolved them for this member
 * (`permissions` of `GET /v1/orgs/{org}/organization`, the query the /o/:org gate also reads). `ready` is
 * false while a custom role's are being fetched.
 */
export function usePermissions(
  org: string,
  role: string,
): { ready: boolean; permissions: ReadonlySet<Permission> } {
  const builtIn = isBuiltInRole(role);
  const organization = useOrganization(org);
  return useMemo(() => {
    if (builtIn) return { ready: true, permissions: new Set<Permission>(builtInRoles[role]) };
    return {
      ready: !organization.isPending,
      permissions: new Set<Permission>((organization.data?.permissions ?? []).filter(isPermission)),
    };
  }, [builtIn, role, organization.data, organization.isPending]);
}
