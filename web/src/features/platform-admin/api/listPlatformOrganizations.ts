import { infiniteQueryOptions, keepPreviousData, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const PAGE_SIZE = 25;

export const platformOrganizationsKey = ['platform', 'organizations'] as const;

const fetchPage = (q: string, cursor?: string) =>
  unwrap(
    api.GET('/v1/platform/organizations', {
      params: { query: { limit: PAGE_SIZE, ...(q ? { q } : {}), ...(cursor ? { cursor } : {}) } },
    }),
  );

/** An organization as platform administrators see it (status, members, plan, attributes). */
export type PlatformOrganization = Awaited<ReturnType<typeof fetchPage>>['data'][number];

/** `GET /v1/platform/organizations`, newest first, a page at a time; `q` searches names and slugs. */
export const platformOrganizationsQueryOptions = (q: string) =>
  infiniteQueryOptions({
    queryKey: [...platformOrganizationsKey, q] as const,
    queryFn: ({ pageParam }) => fetchPage(q, pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    // While a new search loads, the last answer stays on screen.
    placeholderData: keepPreviousData,
  });

export const usePlatformOrganizations = (q: string) => useInfiniteQuery(platformOrganizationsQueryOptions(q));
