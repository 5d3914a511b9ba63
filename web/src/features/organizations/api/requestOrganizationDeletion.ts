import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { organizationKey } from './getOrganization';

/**
 * `DELETE /v1/orgs/{org}/organization` (202, owners): schedules the organization's deletion. It becomes
 * `pending_deletion` (read-only for its members) until its `deletionDueAt`, and an owner can cancel until
 * then; the organization's own answer replaces the cached one at once.
 */
export function useRequestOrganizationDeletion(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api.DELETE('/v1/orgs/{org}/organization', { params: { path: { org } } })),
    onSuccess: (organization) => qc.setQueryData(organizationKey(org), organization),
    onSettled: () => qc.invalidateQueries({ queryKey: organizationKey(org) }),
  });
}
