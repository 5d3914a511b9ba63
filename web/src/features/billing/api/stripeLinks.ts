import { queryOptions, useMutation, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { billingKey } from './getOrganizationPlan';

const fetchProvider = (org: string) =>
  unwrap(api.GET('/v1/orgs/{org}/billing/provider', { params: { path: { org } } }));

/** The deployment's billing provider and, with Stripe, the organization's subscription standing. */
export type BillingProviderInfo = Awaited<ReturnType<typeof fetchProvider>>;

/** `GET /v1/orgs/{org}/billing/provider` (`billing:read`). */
export const billingProviderQueryOptions = (org: string) =>
  queryOptions({
    queryKey: [...billingKey(org), 'provider'] as const,
    queryFn: () => fetchProvider(org),
    staleTime: 30_000,
  });

export const useBillingProvider = (org: string) => useQuery(billingProviderQueryOptions(org));

/**
 * `POST /v1/orgs/{org}/billing/checkout-session` (`billing:manage`): a Stripe Checkout URL for `plan`.
 * The browser goes there; the plan changes when Stripe reports the subscription (webhook), not here.
 */
export function useCreateCheckoutSession(org: string) {
  return useMutation({
    mutationFn: (plan: string) =>
      unwrap(
        api.POST('/v1/orgs/{org}/billing/checkout-session', { params: { path: { org } }, body: { plan } }),
      ),
  });
}

/** `POST /v1/orgs/{org}/billing/portal-session` (`billing:manage`): a Stripe Customer Portal URL. */
export function useCreatePortalSession(org: string) {
  return useMutation({
    mutationFn: () =>
      unwrap(api.POST('/v1/orgs/{org}/billing/portal-session', { params: { path: { org } } })),
  });
}
