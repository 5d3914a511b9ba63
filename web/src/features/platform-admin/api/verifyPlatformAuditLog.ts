import { queryOptions, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { platformAuditKey } from './listPlatformAuditLogs';

/** `GET /v1/platform/audit-logs/verify`: the whole platform chain recomputed (intact, or where it breaks). */
export const verifyPlatformAuditQueryOptions = () =>
  queryOptions({
    queryKey: [...platformAuditKey, 'verify'] as const,
    queryFn: () => unwrap(api.GET('/v1/platform/audit-logs/verify')),
  });

export const useVerifyPlatformAudit = () => useQuery(verifyPlatformAuditQueryOptions());
