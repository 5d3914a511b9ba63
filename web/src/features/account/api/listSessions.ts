import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const SESSIONS_PAGE_SIZE = 20;

export const sessionsKey = ['auth', 'sessions'] as const;

/** `GET /v1/auth/sessions`: the signed-in user's live sessions, newest first, a page at a time. */
export const sessionsQueryOptions = () =>
  infiniteQueryOptions({
    queryKey: sessionsKey,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/auth/sessions', {
          params: { query: { limit: SESSIONS_PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) } },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const useSessions = () => useInfiniteQuery(sessionsQueryOptions());
