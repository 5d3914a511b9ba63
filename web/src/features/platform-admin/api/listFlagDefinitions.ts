import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const PAGE_SIZE = 50;

export const flagDefinitionsKey = ['platform', 'flags'] as const;

const fetchPage = (cursor?: string) =>
  unwrap(
    api.GET('/v1/platform/flags', { params: { query: { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } } }),
  );

/** A stored flag definition (with its `version`, for optimistic concurrency). */
export type FlagDefinition = Awaited<ReturnType<typeof fetchPage>>['data'][number];

/** `GET /v1/platform/flags`, by key, a page at a time. */
export const flagDefinitionsQueryOptions = () =>
  infiniteQueryOptions({
    queryKey: [...flagDefinitionsKey, 'list'] as const,
    queryFn: ({ pageParam }) => fetchPage(pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const useFlagDefinitions = () => useInfiniteQuery(flagDefinitionsQueryOptions());
