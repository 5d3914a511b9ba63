import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { consoleHref } from '../../../lib/base-path';
import { billingKey } from './getOrganizationPlan';

export const INVOICES_PAGE_SIZE = 20;

const fetchPage = (org: string, cursor?: string) =>
  unwrap(
    api.GET('/v1/orgs/{org}/billing/invoices', {
      params: { path: { org }, query: { limit: INVOICES_PAGE_SIZE, ...(cursor ? { cursor } : {}) } },
    }),
  );

/** A finalized invoice of the organization (amounts in minor units, digits as issued). */
export type Invoice = Awaited<ReturnType<typeof fetchPage>>['data'][number];

/** `GET /v1/orgs/{org}/billing/invoices` (`billing:read`), a page at a time. */
export const invoicesQueryOptions = (org: string) =>
  infiniteQueryOptions({
    queryKey: [...billingKey(org), 'invoices'] as const,
    queryFn: ({ pageParam }) => fetchPage(org, pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

export const useInvoices = (org: string) => useInfiniteQuery(invoicesQueryOptions(org));

/**
 * `GET /v1/orgs/{org}/billing/invoices/{id}/pdf`: a plain link (the session cookie goes with it, the
 * server answers `content-disposition: attachment`), so the browser downloads it itself.
 */
export const invoicePdfHref = (org: string, id: string) =>
  consoleHref(`/v1/orgs/${encodeURIComponent(org)}/billing/invoices/${encodeURIComponent(id)}/pdf`);
