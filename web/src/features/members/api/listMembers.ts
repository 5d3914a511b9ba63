import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const PAGE_SIZE = 50;

export const membersKey = (org: string) => ['org', org, 'members'] as const;

/** One member as the API lists it. */
export type Member = Awaited<ReturnType<typeof fetchPage>>['data'][number];

const fetchPage = (org: string, cursor?: string) =>
  unwrap(
    api.GET('/v1/orgs/{org}/members', {
      params: { path: { org }, query: { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } },
    }),
  );

/** `GET /v1/orgs/{org}/members`, a page at a time (cursor paging). */
export const membersQueryOptions = (org: string) =>
  infiniteQueryOptions({
    queryKey: membersKey(org),
    queryFn: ({ pageParam }) => fetchPage(org, pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const useMembers = (org: string) => useInfiniteQuery(membersQueryOptions(org));
