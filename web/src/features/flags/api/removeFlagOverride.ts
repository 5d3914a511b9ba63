import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { flagsKey } from './evaluateFlags';

/** `DELETE /v1/orgs/{org}/flags/{key}/override`: the flag goes back to the platform's targeting. */
export function useRemoveFlagOverride(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (key: string) =>
      unwrap(api.DELETE('/v1/orgs/{org}/flags/{key}/override', { params: { path: { org, key } } })),
    onSettled: () => qc.invalidateQueries({ queryKey: flagsKey(org) }),
  });
}
