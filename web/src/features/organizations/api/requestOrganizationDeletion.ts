import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { meKey } from '../../auth/api/me';
import { myOrganizationsKey, type MyOrganization } from './listMyOrganizations';

/**
 * `DELETE /v1/orgs/{org}/organization` (202): marks the organization for deletion. It leaves every
 * member's list at once: it is dropped from the cached list (so `/` no longer picks it), then the list
 * and the session's organization (`me`) are fetched again.
 */
export function useRequestOrganizationDeletion(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api.DELETE('/v1/orgs/{org}/organization', { params: { path: { org } } })),
    onSuccess: () => {
      qc.setQueryData<MyOrganization[]>(myOrganizationsKey, (list) => list?.filter((o) => o.slug !== org));
      void qc.invalidateQueries({ queryKey: myOrganizationsKey });
      void qc.invalidateQueries({ queryKey: meKey });
    },
  });
}
