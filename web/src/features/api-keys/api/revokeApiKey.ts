import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { apiKeysKey } from './listApiKeys';

/** `DELETE /v1/orgs/{org}/api-keys/{id}` (revoking twice is fine). */
export function useRevokeApiKey(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(api.DELETE('/v1/orgs/{org}/api-keys/{id}', { params: { path: { org, id } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: apiKeysKey(org) }),
  });
}
