import { infiniteQueryOptions, useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import type { paths } from '../../../api/schema';

export const PAGE_SIZE = 50;
export const platformPlansKey = ['platform', 'plans'] as const;

const fetchPage = (cursor?: string) =>
  unwrap(
    api.GET('/v1/platform/plans', { params: { query: { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } } }),
  );

/** A plan of the catalog as platform administrators see it. */
export type CatalogPlan = Awaited<ReturnType<typeof fetchPage>>['data'][number];
export type CreatePlanBody =
  paths['/v1/platform/plans']['post']['requestBody']['content']['application/json'];

/** `GET /v1/platform/plans`: every plan by key (archived and non-public too), a page at a time. */
export const platformPlansQueryOptions = () =>
  infiniteQueryOptions({
    queryKey: [...platformPlansKey, 'list'] as const,
    queryFn: ({ pageParam }) => fetchPage(pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const usePlatformPlans = () => useInfiniteQuery(platformPlansQueryOptions());

/** `POST /v1/platform/plans` (idempotent by key). */
export function useCreatePlan() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: CreatePlanBody) => unwrap(api.POST('/v1/platform/plans', { body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: platformPlansKey }),
  });
}

/** `POST /v1/platform/plans/{key}/archive` or `/unarchive`. */
export function useSetPlanArchived() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ key, archived }: { key: string; archived: boolean }) =>
      unwrap(
        archived
          ? api.POST('/v1/platform/plans/{key}/archive', { params: { path: { key } } })
          : api.POST('/v1/platform/plans/{key}/unarchive', { params: { path: { key } } }),
      ),
    onSuccess: () => qc.invalidateQueries({ queryKey: platformPlansKey }),
  });
}
