import { infiniteQueryOptions, queryOptions, useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

/** Every cached answer about the organization's roles (invalidating it refreshes all of them). */
export const rolesKey = (org: string) => ['org', org, 'roles'] as const;

/** A role (built-in or custom) as the API shows it. */
export type Role = Awaited<ReturnType<typeof fetchPage>>['data'][number];

const fetchPage = (org: string, limit: number, cursor?: string) =>
  unwrap(
    api.GET('/v1/orgs/{org}/roles', {
      params: { path: { org }, query: { limit, ...(cursor ? { cursor } : {}) } },
    }),
  );

/**
 * `GET /v1/orgs/{org}/roles`, first 200: the built-in roles then the custom ones, with their permissions
 * (what the member's own permissions and the role pickers read).
 */
export const rolesQueryOptions = (org: string) =>
  queryOptions({
    queryKey: rolesKey(org),
    queryFn: () => fetchPage(org, 200),
    staleTime: 60_000,
  });

export const useRoles = (org: string, enabled = true) => useQuery({ ...rolesQueryOptions(org), enabled });

/** The same list a page at a time (cursor paging), for the roles screen. */
export const rolePagesQueryOptions = (org: string) =>
  infiniteQueryOptions({
    queryKey: [...rolesKey(org), 'pages'] as const,
    queryFn: ({ pageParam }) => fetchPage(org, 50, pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const useRolePages = (org: string) => useInfiniteQuery(rolePagesQueryOptions(org));
