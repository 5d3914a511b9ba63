import { queryOptions, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

/** `GET /v1/orgs/{org}/roles`: the organization's custom roles and their permissions. */
export const rolesQueryOptions = (org: string) =>
  queryOptions({
    queryKey: ['org', org, 'roles'] as const,
    queryFn: () =>
      unwrap(api.GET('/v1/orgs/{org}/roles', { params: { path: { org }, query: { limit: 200 } } })),
    staleTime: 60_000,
  });

export const useRoles = (org: string, enabled = true) => useQuery({ ...rolesQueryOptions(org), enabled });
