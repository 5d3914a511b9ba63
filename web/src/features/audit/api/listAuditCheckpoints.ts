import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { auditKey } from './listAuditLogs';

export const CHECKPOINTS_PAGE_SIZE = 10;

export const checkpointsKey = (org: string) => [...auditKey(org), 'checkpoints'] as const;

/** `GET /v1/orgs/{org}/audit-logs/checkpoints`: signed checkpoints, oldest first (cursor paging). */
export const auditCheckpointsQueryOptions = (org: string) =>
  infiniteQueryOptions({
    queryKey: checkpointsKey(org),
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/orgs/{org}/audit-logs/checkpoints', {
          params: {
            path: { org },
            query: { limit: CHECKPOINTS_PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) },
          },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const useAuditCheckpoints = (org: string) => useInfiniteQuery(auditCheckpointsQueryOptions(org));
