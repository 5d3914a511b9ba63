import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const PAGE_SIZE = 50;

/** `GET /v1/orgs/{org}/members`, a page at a time (cursor paging). */
export const membersQueryOptions = (org: string) =>
  infiniteQueryOptions({
    queryKey: ['org', org, 'members'] as const,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/orgs/{org}/members', {
          params: {
            path: { org },
            query: { limit: PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) },
          },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const useMembers = (org: string) => useInfiniteQuery(membersQueryOptions(org));
