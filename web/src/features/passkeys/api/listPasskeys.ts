import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const PASSKEYS_PAGE_SIZE = 20;

export const passkeysKey = ['auth', 'passkeys'] as const;

/** `GET /v1/auth/passkeys`: the signed-in user's passkeys, oldest first, a page at a time. */
export const passkeysQueryOptions = () =>
  infiniteQueryOptions({
    queryKey: passkeysKey,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/auth/passkeys', {
          params: { query: { limit: PASSKEYS_PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) } },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const usePasskeys = () => useInfiniteQuery(passkeysQueryOptions());
