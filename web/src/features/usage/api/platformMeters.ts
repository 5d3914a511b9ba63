import { infiniteQueryOptions, useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import type { paths } from '../../../api/schema';

export const METERS_PAGE_SIZE = 50;
export const platformMetersKey = ['platform', 'meters'] as const;

const fetchPage = (cursor?: string) =>
  unwrap(
    api.GET('/v1/platform/meters', {
      params: { query: { limit: METERS_PAGE_SIZE, ...(cursor ? { cursor } : {}) } },
    }),
  );

/** A meter of the catalog (archived ones too). */
export type Meter = Awaited<ReturnType<typeof fetchPage>>['data'][number];
export type CreateMeterBody =
  paths['/v1/platform/meters']['post']['requestBody']['content']['application/json'];
export type UpdateMeterBody =
  paths['/v1/platform/meters/{key}']['patch']['requestBody']['content']['application/json'];

/** `GET /v1/platform/meters`: the meter catalog by key, a page at a time (platform administrators). */
export const platformMetersQueryOptions = () =>
  infiniteQueryOptions({
    queryKey: [...platformMetersKey, 'list'] as const,
    queryFn: ({ pageParam }) => fetchPage(pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const usePlatformMeters = () => useInfiniteQuery(platformMetersQueryOptions());

/** `POST /v1/platform/meters` (idempotent by key: the same definition again is a replay). */
export function useCreateMeter() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: CreateMeterBody) => unwrap(api.POST('/v1/platform/meters', { body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: platformMetersKey }),
  });
}

/** `PATCH /v1/platform/meters/{key}`: unit and description only. */
export function useUpdateMeter() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ key, body }: { key: string; body: UpdateMeterBody }) =>
      unwrap(api.PATCH('/v1/platform/meters/{key}', { params: { path: { key } }, body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: platformMetersKey }),
  });
}

/** `POST /v1/platform/meters/{key}/archive`: new events refused, usage kept. There is no unarchive. */
export function useArchiveMeter() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (key: string) =>
      unwrap(api.POST('/v1/platform/meters/{key}/archive', { params: { path: { key } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: platformMetersKey }),
  });
}
