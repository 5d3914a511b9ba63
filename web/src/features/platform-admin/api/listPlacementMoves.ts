import { infiniteQueryOptions, queryOptions, useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const MOVES_PAGE_SIZE = 20;

export const placementMovesKey = ['platform', 'placement-moves'] as const;

const fetchPage = (cursor?: string) =>
  unwrap(
    api.GET('/v1/platform/placement-moves', {
      params: { query: { limit: MOVES_PAGE_SIZE, ...(cursor ? { cursor } : {}) } },
    }),
  );

/** A move of an organization between placements (step, freeze, error). */
export type PlacementMove = Awaited<ReturnType<typeof fetchPage>>['data'][number];

/** Steps after which a move does nothing more. */
export const ENDED_STEPS: readonly string[] = ['done', 'aborted', 'failed'];

/** `GET /v1/platform/placement-moves`, newest first; polled while a move shown is running. */
export const placementMovesQueryOptions = () =>
  infiniteQueryOptions({
    queryKey: placementMovesKey,
    queryFn: ({ pageParam }) => fetchPage(pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    refetchInterval: (q) =>
      q.state.data?.pages.some((p) => p.data.some((m) => !ENDED_STEPS.includes(m.step))) ? 1000 : false,
  });

export const usePlacementMoves = () => useInfiniteQuery(placementMovesQueryOptions());

/** The latest move of one organization (`null`: never moved): whether a move of it runs now. Where it is
 *  placed is the organization's own `placement` (the organization list), not its moves. */
export const latestPlacementMoveQueryOptions = (organizationId: string) =>
  queryOptions({
    queryKey: [...placementMovesKey, 'latest', organizationId] as const,
    queryFn: async () =>
      (
        await unwrap(
          api.GET('/v1/platform/placement-moves', { params: { query: { organizationId, limit: 1 } } }),
        )
      ).data[0] ?? null,
  });

export const useLatestPlacementMove = (organizationId: string | null) =>
  useQuery({ ...latestPlacementMoveQueryOptions(organizationId ?? ''), enabled: organizationId !== null });
