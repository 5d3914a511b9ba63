import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { EXPORTS_PAGE_SIZE, inProgress, POLL_MS } from './exports';

export const organizationExportsKey = (org: string) => ['org', org, 'exports'] as const;

/** `GET /v1/orgs/{org}/organization/exports` (`org:export`): newest first; polled while one is in progress. */
export const organizationExportsQueryOptions = (org: string) =>
  infiniteQueryOptions({
    queryKey: organizationExportsKey(org),
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/orgs/{org}/organization/exports', {
          params: {
            path: { org },
            query: { limit: EXPORTS_PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) },
          },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    refetchInterval: (q) => (q.state.data?.pages.some((p) => p.data.some(inProgress)) ? POLL_MS : false),
  });

export const useOrganizationExports = (org: string) => useInfiniteQuery(organizationExportsQueryOptions(org));
