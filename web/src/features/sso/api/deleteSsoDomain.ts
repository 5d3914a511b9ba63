import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { domainsKey } from './listSsoDomains';

/** `DELETE /v1/orgs/{org}/sso/domains/{domain}` (releases a verified domain). */
export function useDeleteSsoDomain(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (domain: string) =>
      unwrap(api.DELETE('/v1/orgs/{org}/sso/domains/{domain}', { params: { path: { org, domain } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: domainsKey(org) }),
  });
}
