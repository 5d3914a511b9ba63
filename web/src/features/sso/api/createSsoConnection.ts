import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import type { paths } from '../../../api/schema';
import { connectionsKey } from './listSsoConnections';

export type CreateSsoConnectionBody =
  paths['/v1/orgs/{org}/sso/connections']['post']['requestBody']['content']['application/json'];

/** `POST /v1/orgs/{org}/sso/connections` (OIDC discovery or SAML metadata checked by the server). */
export function useCreateSsoConnection(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: CreateSsoConnectionBody) =>
      unwrap(
        api.POST('/v1/orgs/{org}/sso/connections', {
          params: { path: { org }, header: { 'idempotency-key': crypto.randomUUID() } },
          body,
        }),
      ),
    onSuccess: () => qc.invalidateQueries({ queryKey: connectionsKey(org) }),
  });
}
