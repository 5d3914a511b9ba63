import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { scimTokensKey } from './listScimTokens';

/** `POST /v1/orgs/{org}/scim/tokens/{id}/rotate`: a new token, the old one revoked at once. */
export function useRotateScimToken(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(api.POST('/v1/orgs/{org}/scim/tokens/{id}/rotate', { params: { path: { org, id } } })),
    gcTime: 0,
    onSuccess: () => qc.invalidateQueries({ queryKey: scimTokensKey(org) }),
  });
}
