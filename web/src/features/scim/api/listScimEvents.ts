import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const EVENTS_PAGE_SIZE = 25;

export const scimEventsKey = (org: string) => ['org', org, 'scim-events'] as const;

/** `GET /v1/orgs/{org}/scim/events`: the sync log, newest first, a page at a time. */
export const scimEventsQueryOptions = (org: string) =>
  infiniteQueryOptions({
    queryKey: scimEventsKey(org),
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/orgs/{org}/scim/events', {
          params: {
            path: { org },
            query: { limit: EVENTS_PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) },
          },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const useScimEvents = (org: string) => useInfiniteQuery(scimEventsQueryOptions(org));
