import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { isApiError, unwrap } from '../../../api/errors';
import { flagsKey } from './evaluateFlags';

/**
 * `PUT /v1/orgs/{org}/flags/{key}/override`. A 409 (the flag stopped allowing overrides since the page
 * loaded) also refreshes the flags, so the screen shows why.
 */
export function useSetFlagOverride(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ key, value }: { key: string; value: unknown }) =>
      unwrap(
        api.PUT('/v1/orgs/{org}/flags/{key}/override', { params: { path: { org, key } }, body: { value } }),
      ),
    onSuccess: () => qc.invalidateQueries({ queryKey: flagsKey(org) }),
    onError: (err) => {
      if (isApiError(err, 409) || isApiError(err, 404))
        void qc.invalidateQueries({ queryKey: flagsKey(org) });
    },
  });
}
