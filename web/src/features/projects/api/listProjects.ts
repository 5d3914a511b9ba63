import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const PAGE_SIZE = 20;

export const projectsKey = (org: string) => ['org', org, 'projects'] as const;

/** `GET /v1/orgs/{org}/projects`, a page at a time (cursor paging, newest first). */
export const projectsQueryOptions = (org: string) =>
  infiniteQueryOptions({
    queryKey: projectsKey(org),
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/orgs/{org}/projects', {
          params: {
            path: { org },
            query: { limit: PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) },
          },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const useProjects = (org: string) => useInfiniteQuery(projectsQueryOptions(org));
