import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { connectionsKey } from './listSsoConnections';

/** `DELETE /v1/orgs/{org}/sso/connections/{id}` (its sessions end at once). */
export function useDeleteSsoConnection(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(api.DELETE('/v1/orgs/{org}/sso/connections/{id}', { params: { path: { org, id } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: connectionsKey(org) }),
  });
}
