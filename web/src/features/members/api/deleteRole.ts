import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { rolesKey } from './listRoles';

/** `DELETE /v1/orgs/{org}/roles/{key}`: a custom role nobody holds. */
export function useDeleteRole(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (key: string) =>
      unwrap(api.DELETE('/v1/orgs/{org}/roles/{key}', { params: { path: { org, key } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: rolesKey(org) }),
  });
}
