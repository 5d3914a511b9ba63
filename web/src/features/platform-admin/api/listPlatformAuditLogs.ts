import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export const PAGE_SIZE = 50;

export const platformAuditKey = ['platform', 'audit'] as const;

/** `GET /v1/platform/audit-logs`, newest first, a page at a time; `action` filters (`flag.*` allowed). */
export const platformAuditQueryOptions = (action: string) =>
  infiniteQueryOptions({
    queryKey: [...platformAuditKey, 'list', action] as const,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/platform/audit-logs', {
          params: {
            query: {
              limit: PAGE_SIZE,
              ...(action ? { action } : {}),
              ...(pageParam ? { cursor: pageParam } : {}),
            },
          },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const usePlatformAuditLogs = (action: string) => useInfiniteQuery(platformAuditQueryOptions(action));
