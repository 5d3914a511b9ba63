import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const PAGE_SIZE = 25;

export const pendingDeletionKey = ['platform', 'organizations', 'pending-deletion'] as const;

const fetchPage = (cursor?: string) =>
  unwrap(
    api.GET('/v1/platform/organizations/pending-deletion', {
      params: { query: { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } },
    }),
  );

/** An organization scheduled for deletion (or being deleted), as platform administrators see it. */
export type PendingDeletionOrganization = Awaited<ReturnType<typeof fetchPage>>['data'][number];

/** `GET /v1/platform/organizations/pending-deletion`: soonest due first, a page at a time. */
export const pendingDeletionQueryOptions = () =>
  infiniteQueryOptions({
    queryKey: pendingDeletionKey,
    queryFn: ({ pageParam }) => fetchPage(pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const useOrganizationsPendingDeletion = () => useInfiniteQuery(pendingDeletionQueryOptions());
