import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { organizationKey } from './getOrganization';

/** `POST /v1/orgs/{org}/organization/cancel-deletion` (owners): the organization is active again. */
export function useCancelOrganizationDeletion(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: () =>
      unwrap(api.POST('/v1/orgs/{org}/organization/cancel-deletion', { params: { path: { org } } })),
    onSuccess: (organization) => qc.setQueryData(organizationKey(org), organization),
    onSettled: () => qc.invalidateQueries({ queryKey: organizationKey(org) }),
  });
}
