import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import type { paths } from '../../../api/schema';

export const PAGE_SIZE = 20;

type ListQuery = NonNullable<paths['/v1/orgs/{org}/audit-logs']['get']['parameters']['query']>;

/** The filters of the audit log (and of its export): every one the API has. */
export type AuditFilters = Omit<ListQuery, 'cursor' | 'limit'>;

export const auditKey = (org: string) => ['org', org, 'audit'] as const;
export const auditLogsKey = (org: string, filters: AuditFilters) =>
  [...auditKey(org), 'events', filters] as const;

/** `GET /v1/orgs/{org}/audit-logs`: events newest first, filtered, a page at a time (cursor paging). */
export const auditLogsQueryOptions = (org: string, filters: AuditFilters) =>
  infiniteQueryOptions({
    queryKey: auditLogsKey(org, filters),
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/v1/orgs/{org}/audit-logs', {
          params: {
            path: { org },
            query: { ...filters, limit: PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) },
          },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const useAuditLogs = (org: string, filters: AuditFilters) =>
  useInfiniteQuery(auditLogsQueryOptions(org, filters));
