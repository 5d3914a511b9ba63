import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { rolesKey } from './listRoles';

/**
 * `PATCH /v1/orgs/{org}/roles/{key}`: renames a custom role and/or replaces its permissions. Its holders'
 * permissions change with it (the signed-in user's too, which the roles query feeds).
 */
export function useUpdateRole(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ key, ...body }: { key: string; name: string; permissions: string[] }) =>
      unwrap(api.PATCH('/v1/orgs/{org}/roles/{key}', { params: { path: { org, key } }, body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: rolesKey(org) }),
  });
}
