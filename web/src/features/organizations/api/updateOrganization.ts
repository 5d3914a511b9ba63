import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { organizationKey } from './getOrganization';
import { myOrganizationsKey } from './listMyOrganizations';

/**
 * `PATCH /v1/orgs/{org}/organization`: name and/or slug. The switcher's list is fetched again before
 * this resolves, so a page that then opens the new slug finds it there.
 */
export function useUpdateOrganization(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { name?: string; slug?: string }) =>
      unwrap(api.PATCH('/v1/orgs/{org}/organization', { params: { path: { org } }, body })),
    onSuccess: async (updated) => {
      qc.setQueryData(organizationKey(updated.slug), updated);
      await qc.invalidateQueries({ queryKey: myOrganizationsKey });
    },
  });
}
