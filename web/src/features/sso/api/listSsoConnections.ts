import { queryOptions, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const ssoKey = (org: string) => ['org', org, 'sso'] as const;
export const connectionsKey = (org: string) => [...ssoKey(org), 'connections'] as const;

/** `GET /v1/orgs/{org}/sso/connections` (an organization has at most 20: one page; never a secret). */
export const ssoConnectionsQueryOptions = (org: string) =>
  queryOptions({
    queryKey: connectionsKey(org),
    queryFn: () =>
      unwrap(api.GET('/v1/orgs/{org}/sso/connections', { params: { path: { org }, query: { limit: 50 } } })),
  });

export const useSsoConnections = (org: string) => useQuery(ssoConnectionsQueryOptions(org));
