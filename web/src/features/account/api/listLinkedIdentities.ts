import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const linkedIdentitiesKey = ['auth', 'identities'] as const;

/** `GET /v1/auth/identities`: the provider accounts linked to the signed-in user, oldest first. */
export const linkedIdentitiesQueryOptions = () =>
  infiniteQueryOptions({
    queryKey: linkedIdentitiesKey,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/auth/identities', {
          params: { query: { limit: 20, ...(pageParam ? { cursor: pageParam } : {}) } },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const useLinkedIdentities = () => useInfiniteQuery(linkedIdentitiesQueryOptions());
