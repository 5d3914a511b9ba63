import { queryOptions, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const regionsKey = ['regions'] as const;

/** `GET /v1/regions`: where an organization can be created (data residency) and the default one. */
export const regionsQueryOptions = () =>
  queryOptions({
    queryKey: regionsKey,
    queryFn: () => unwrap(api.GET('/v1/regions')),
    // Server configuration: it changes with a restart, not while a page is open.
    staleTime: 5 * 60_000,
  });

export const useRegions = () => useQuery(regionsQueryOptions());
