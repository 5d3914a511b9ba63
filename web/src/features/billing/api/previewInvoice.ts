import { queryOptions, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { billingKey } from './getOrganizationPlan';

const fetchPreview = (org: string) =>
  unwrap(api.GET('/v1/orgs/{org}/billing/preview', { params: { path: { org } } }));

/** The current period's invoice as it stands now, line by line (amounts in minor units). */
export type InvoicePreview = Awaited<ReturnType<typeof fetchPreview>>;
export type InvoiceLine = InvoicePreview['lines'][number];

/**
 * `GET /v1/orgs/{org}/billing/preview` (`billing:read`). Under the billing prefix: a plan change
 * invalidates it with the plan.
 */
export const invoicePreviewQueryOptions = (org: string) =>
  queryOptions({ queryKey: [...billingKey(org), 'preview'] as const, queryFn: () => fetchPreview(org) });

export const useInvoicePreview = (org: string) => useQuery(invoicePreviewQueryOptions(org));
