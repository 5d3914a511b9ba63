import { queryOptions, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const placementTargetsKey = ['platform', 'placement-targets'] as const;

/** `GET /v1/platform/placement-targets`: the tenant databases an organization can be moved into from this
 *  server, each with the regions it holds (configuration: read once per session of the page). */
export const placementTargetsQueryOptions = () =>
  queryOptions({
    queryKey: placementTargetsKey,
    queryFn: () => unwrap(api.GET('/v1/platform/placement-targets')),
    staleTime: 5 * 60_000,
  });

export const usePlacementTargets = (enabled: boolean) =>
  useQuery({ ...placementTargetsQueryOptions(), enabled });

/** A tenant database a move can go into, and its regions. */
export type PlacementTarget = Awaited<
  ReturnType<NonNullable<ReturnType<typeof placementTargetsQueryOptions>['queryFn']>>
>['data'][number];
