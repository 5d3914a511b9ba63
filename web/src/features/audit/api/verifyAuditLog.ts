import { queryOptions, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { auditKey } from './listAuditLogs';

export const verifyKey = (org: string) => [...auditKey(org), 'verify'] as const;

/**
 * `GET /v1/orgs/{org}/audit-logs/verify`: the server recomputes the whole hash chain and checks every
 * checkpoint signature. Run when the page opens and on "Verify again", not on every focus.
 */
export const verifyAuditLogQueryOptions = (org: string) =>
  queryOptions({
    queryKey: verifyKey(org),
    queryFn: () => unwrap(api.GET('/v1/orgs/{org}/audit-logs/verify', { params: { path: { org } } })),
    refetchOnWindowFocus: false,
  });

export const useVerifyAuditLog = (org: string) => useQuery(verifyAuditLogQueryOptions(org));
