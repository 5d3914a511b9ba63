import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { rolesKey } from './listRoles';

/** `POST /v1/orgs/{org}/roles`: a custom role from permissions the member holds. */
export function useCreateRole(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { key: string; name: string; permissions: string[] }) =>
      unwrap(api.POST('/v1/orgs/{org}/roles', { params: { path: { org } }, body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: rolesKey(org) }),
  });
}
