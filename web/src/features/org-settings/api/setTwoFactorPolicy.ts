import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { organizationKey } from '../../organizations/api/getOrganization';

/** `PUT /v1/orgs/{org}/organization/two-factor-policy`: whether every member needs two-factor. */
export function useSetTwoFactorPolicy(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (required: boolean) =>
      unwrap(
        api.PUT('/v1/orgs/{org}/organization/two-factor-policy', {
          params: { path: { org } },
          body: { required },
        }),
      ),
    onSuccess: () => qc.invalidateQueries({ queryKey: organizationKey(org) }),
  });
}
