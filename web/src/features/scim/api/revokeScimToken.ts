import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { scimTokensKey } from './listScimTokens';

/** `DELETE /v1/orgs/{org}/scim/tokens/{id}` (revoking twice is fine). */
export function useRevokeScimToken(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(api.DELETE('/v1/orgs/{org}/scim/tokens/{id}', { params: { path: { org, id } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: scimTokensKey(org) }),
  });
}
