import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const PAGE_SIZE = 20;

export const scimTokensKey = (org: string) => ['org', org, 'scim-tokens'] as const;

/** `GET /v1/orgs/{org}/scim/tokens`, a page at a time (newest first; never a secret). */
export const scimTokensQueryOptions = (org: string) =>
  infiniteQueryOptions({
    queryKey: scimTokensKey(org),
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/orgs/{org}/scim/tokens', {
          params: { path: { org }, query: { limit: PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) } },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const useScimTokens = (org: string) => useInfiniteQuery(scimTokensQueryOptions(org));
