import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const PAGE_SIZE = 20;

export const apiKeysKey = (org: string) => ['org', org, 'api-keys'] as const;

/** `GET /v1/orgs/{org}/api-keys`, a page at a time (cursor paging, newest first; never a secret). */
export const apiKeysQueryOptions = (org: string) =>
  infiniteQueryOptions({
    queryKey: apiKeysKey(org),
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/orgs/{org}/api-keys', {
          params: {
            path: { org },
            query: { limit: PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) },
          },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const useApiKeys = (org: string) => useInfiniteQuery(apiKeysQueryOptions(org));
