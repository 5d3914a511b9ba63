import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const organizationKeysKey = (org: string) => ['org', org, 'keys'] as const;

/** While values are being re-encrypted after a rotation, the status is polled this often. */
export const KEYS_POLL_MS = 2000;

/**
 * `GET /v1/orgs/{org}/organization/keys` (`org:read`): the data key versions (never key material), whether
 * re-encryption is pending, and the values it could not open. Polled while re-encryption is pending.
 */
export const organizationKeysQueryOptions = (org: string) =>
  queryOptions({
    queryKey: organizationKeysKey(org),
    queryFn: () => unwrap(api.GET('/v1/orgs/{org}/organization/keys', { params: { path: { org } } })),
    refetchInterval: (q) => (q.state.data?.reencryptionPending ? KEYS_POLL_MS : false),
  });

export const useOrganizationKeys = (org: string) => useQuery(organizationKeysQueryOptions(org));

/** `POST /v1/orgs/{org}/organization/keys/rotate` (`org:delete`, owners): a new data key version, active at once. */
export function useRotateOrganizationKey(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: () =>
      unwrap(api.POST('/v1/orgs/{org}/organization/keys/rotate', { params: { path: { org } } })),
    onSuccess: (keys) => qc.setQueryData(organizationKeysKey(org), keys),
    onSettled: () => qc.invalidateQueries({ queryKey: organizationKeysKey(org) }),
  });
}
