import { queryOptions, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { ssoKey } from './listSsoConnections';

export const domainsKey = (org: string) => [...ssoKey(org), 'domains'] as const;

/** `GET /v1/orgs/{org}/sso/domains` (the first 200). */
export const ssoDomainsQueryOptions = (org: string) =>
  queryOptions({
    queryKey: domainsKey(org),
    queryFn: () =>
      unwrap(api.GET('/v1/orgs/{org}/sso/domains', { params: { path: { org }, query: { limit: 200 } } })),
  });

export const useSsoDomains = (org: string) => useQuery(ssoDomainsQueryOptions(org));
