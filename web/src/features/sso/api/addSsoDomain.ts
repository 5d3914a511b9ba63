import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { domainsKey } from './listSsoDomains';

/** `POST /v1/orgs/{org}/sso/domains`: the TXT record to publish. */
export function useAddSsoDomain(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (domain: string) =>
      unwrap(api.POST('/v1/orgs/{org}/sso/domains', { params: { path: { org } }, body: { domain } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: domainsKey(org) }),
  });
}
