import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { domainsKey } from './listSsoDomains';

/** `POST /v1/orgs/{org}/sso/domains/{domain}/verify`: checks the TXT record now. */
export function useVerifySsoDomain(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (domain: string) =>
      unwrap(api.POST('/v1/orgs/{org}/sso/domains/{domain}/verify', { params: { path: { org, domain } } })),
    onSettled: () => qc.invalidateQueries({ queryKey: domainsKey(org) }),
  });
}
