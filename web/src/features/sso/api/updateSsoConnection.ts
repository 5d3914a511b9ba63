import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import type { paths } from '../../../api/schema';
import { connectionsKey } from './listSsoConnections';

export type UpdateSsoConnectionBody =
  paths['/v1/orgs/{org}/sso/connections/{id}']['patch']['requestBody']['content']['application/json'];

/** `PATCH /v1/orgs/{org}/sso/connections/{id}` (deactivating ends the sessions it signed in). */
export function useUpdateSsoConnection(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, body }: { id: string; body: UpdateSsoConnectionBody }) =>
      unwrap(api.PATCH('/v1/orgs/{org}/sso/connections/{id}', { params: { path: { org, id } }, body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: connectionsKey(org) }),
  });
}
