import { queryOptions, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

/** Everything about the organization's flags (values, overrides) shares this prefix. */
export const flagsKey = (org: string) => ['org', org, 'flags'] as const;

/** One flag's value for this organization and user, and why (`reason`). */
export type FlagEvaluation = Awaited<ReturnType<typeof fetchFlags>>['details'][number];

const fetchFlags = (org: string) => unwrap(api.GET('/v1/orgs/{org}/flags', { params: { path: { org } } }));

/** `GET /v1/orgs/{org}/flags`: every flag evaluated for the organization and the signed-in user. */
export const flagsQueryOptions = (org: string) =>
  queryOptions({
    queryKey: [...flagsKey(org), 'values'] as const,
    queryFn: () => fetchFlags(org),
  });

export const useFlags = (org: string) => useQuery(flagsQueryOptions(org));
