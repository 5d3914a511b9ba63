import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { meKey } from '../../auth/api/me';
import { myOrganizationsKey } from './listMyOrganizations';

/**
 * `DELETE /v1/orgs/{org}/organization` (202): marks the organization for deletion, and it leaves every
 * member's list. `me` is fetched again before the mutation settles: the server has moved the session to
 * another organization, which `/` then opens without a switch (a switch rotates the session token under
 * requests in flight). The list is refreshed without waiting, so the page can leave the organization
 * before its own list says it is gone.
 */
export function useRequestOrganizationDeletion(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api.DELETE('/v1/orgs/{org}/organization', { params: { path: { org } } })),
    onSuccess: async () => {
      await qc.invalidateQueries({ queryKey: meKey });
      void qc.invalidateQueries({ queryKey: myOrganizationsKey });
    },
  });
}
