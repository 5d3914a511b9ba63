import { keepPreviousData, queryOptions, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

export type Granularity = 'minute' | 'hour' | 'day';

/** One summary request: a meter's buckets in [from, to). */
export interface SummaryParams {
  readonly meter: string;
  readonly from: string;
  readonly to: string;
  readonly granularity: Granularity;
}

/** Everything about the organization's usage shares this prefix. */
export const usageKey = (org: string) => ['org', org, 'usage'] as const;

const fetchSummary = (org: string, q: SummaryParams) =>
  unwrap(
    api.GET('/v1/orgs/{org}/usage/summary', {
      params: {
        path: { org },
        query: { meter: q.meter, from: q.from, to: q.to, granularity: q.granularity },
      },
    }),
  );

/** A meter's buckets (values are exact decimals as strings). */
export type UsageSummary = Awaited<ReturnType<typeof fetchSummary>>;

/** `GET /v1/orgs/{org}/usage/summary` (`usage:read`): answered from the aggregates. */
export const usageSummaryQueryOptions = (org: string, q: SummaryParams) =>
  queryOptions({
    queryKey: [...usageKey(org), 'summary', q.meter, q.granularity, q.from, q.to] as const,
    queryFn: () => fetchSummary(org, q),
    // A new range keeps the last chart on screen while it loads, instead of a spinner each time.
    placeholderData: keepPreviousData,
  });

export const useUsageSummary = (org: string, q: SummaryParams, enabled = true) =>
  useQuery({ ...usageSummaryQueryOptions(org, q), enabled });
