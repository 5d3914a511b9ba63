import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { newIdempotencyKey } from './exports';
import { organizationExportsKey } from './listOrganizationExports';

/** `POST /v1/orgs/{org}/organization/export` (`org:export`): starts an export of every row of the organization. */
export function useCreateOrganizationExport(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: () =>
      unwrap(
        api.POST('/v1/orgs/{org}/organization/export', {
          params: { path: { org }, header: { 'idempotency-key': newIdempotencyKey() } },
        }),
      ),
    onSettled: () => qc.invalidateQueries({ queryKey: organizationExportsKey(org) }),
  });
}
