import { queryOptions, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

/** Everything about the organization's plan shares this prefix. */
export const billingKey = (org: string) => ['org', org, 'billing'] as const;

const fetchPlan = (org: string) =>
  unwrap(api.GET('/v1/orgs/{org}/billing/plan', { params: { path: { org } } }));

/** The organization's plan, its seats used and limit, and the plans it may switch to. */
export type OrganizationPlan = Awaited<ReturnType<typeof fetchPlan>>;
export type Plan = OrganizationPlan['plan'];

/** `GET /v1/orgs/{org}/billing/plan` (`billing:read`). */
export const organizationPlanQueryOptions = (org: string) =>
  queryOptions({ queryKey: [...billingKey(org), 'plan'] as const, queryFn: () => fetchPlan(org) });

export const useOrganizationPlan = (org: string) => useQuery(organizationPlanQueryOptions(org));
