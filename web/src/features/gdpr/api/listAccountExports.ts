import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { EXPORTS_PAGE_SIZE, inProgress, POLL_MS } from './exports';

export const accountExportsKey = ['account', 'exports'] as const;

/** `GET /v1/account/exports`: the signed-in user's exports, newest first; polled while one is in progress. */
export const accountExportsQueryOptions = () =>
  infiniteQueryOptions({
    queryKey: accountExportsKey,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/account/exports', {
          params: { query: { limit: EXPORTS_PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) } },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    refetchInterval: (q) => (q.state.data?.pages.some((p) => p.data.some(inProgress)) ? POLL_MS : false),
  });

export const useAccountExports = () => useInfiniteQuery(accountExportsQueryOptions());
