import type { TenantCtx } from '../../platform/tenancy/context.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { isTenantId } from '../../platform/tenancy/context.js';
import { decodeCursor, pageLimit, toPage, type Page } from '../../platform/pagination.js';
import type { InvoiceLine } from './pricing/price-invoice.js';
import type { Currency } from './currencies.js';
import { invoiceNotFound } from './billing.errors.js';
import { lazyImport } from '../../platform/lazy-import.js';
import * as repo from './invoices.repository.js';

/** PDF rendering (pdfkit, the embedded font) loads with the first invoice PDF asked for. */
const invoicePdf = lazyImport(() => import('./invoice-pdf.js'));

/** An invoice as the API shows it (amounts in minor units of `currency`; `periodEnd` exclusive). */
export interface Invoice {
  id: string;
  number: string | null;
  status: 'draft' | 'finalized' | 'void';
  currency: Currency;
  /** The currency's ISO 4217 minor-unit digits, as stored when the invoice was issued. */
  minorUnits: number;
  /** The organization's name when the invoice was issued. */
  customerName: string;
  /** Who issued it (the deployment's public host when it was issued). */
  issuer: string;
  periodStart: string;
  periodEnd: string;
  subtotal: number;
  total: number;
  lines: InvoiceLine[];
  createdAt: string;
  finalizedAt: string | null;
}

export interface InvoicesService {
  /** Finalized (and void) invoices, newest first, cursor-paginated. */
  list(ctx: TenantCtx, opts?: { limit?: number; cursor?: string }): Promise<Page<Invoice>>;
  /** One invoice; INVOICE_NOT_FOUND for a missing id, a draft, and any other tenant's id alike. */
  get(ctx: TenantCtx, id: string): Promise<Invoice>;
  /** The invoice as a PDF, with its file name. Same 404 as `get`. */
  pdf(ctx: TenantCtx, id: string): Promise<{ fileName: string; pdf: Buffer }>;
}

/**
 * Amounts are bigint columns read as text, within 0..2^53-1 by their check constraints; the currency was
 * a code of the table when it was priced, and the snapshots are set on every invoice but a draft.
 */
export const toInvoice = (r: repo.InvoiceRow): Invoice => ({
  id: r.id,
  number: r.number,
  status: r.status,
  currency: r.currency as Currency,
  minorUnits: r.minor_units ?? 0,
  customerName: r.customer_name ?? '',
  issuer: r.issuer ?? '',
  periodStart: r.period_start,
  periodEnd: r.period_end,
  subtotal: Number(r.subtotal),
  total: Number(r.total),
  lines: r.lines,
  createdAt: r.created_at.toISOString(),
  finalizedAt: r.finalized_at ? r.finalized_at.toISOString() : null,
});

/** Reading invoices: the list, one invoice, its PDF. */
export function createInvoicesService(deps: {
  withTenant: WithTenant;
  /** PDF page streams compressed (default true; tests read the text with false). */
  compressPdf?: boolean;
}): InvoicesService {
  const { withTenant } = deps;
  const find = async (ctx: TenantCtx, id: string) => {
    if (!isTenantId(id)) throw invoiceNotFound();
    const found = await withTenant(
      ctx.tenantId,
      async (db) => {
        const row = await repo.findInvoice(db, ctx.tenantId, id);
        if (!row || row.status === 'draft') return undefined;
        return toInvoice(row);
      },
      { mode: 'read' },
    );
    if (!found) throw invoiceNotFound();
    return found;
  };
  return {
    async list(ctx, opts) {
      const limit = pageLimit(opts?.limit);
      const before = decodeCursor(opts?.cursor, isTenantId);
      const rows = await withTenant(
        ctx.tenantId,
        (db) => repo.listInvoices(db, ctx.tenantId, { before, limit: limit + 1 }),
        { mode: 'read' },
      );
      return toPage(rows, limit, (r) => r.id, toInvoice);
    },
    async get(ctx, id) {
      return find(ctx, id);
    },
    async pdf(ctx, id) {
      // Rendered from the invoice's own snapshot (customer, issuer, minor units), never current data.
      const invoice = await find(ctx, id);
      const pdf = await (
        await invoicePdf()
      ).renderInvoicePdf(invoice, { compress: deps.compressPdf ?? true });
      return { fileName: `${invoice.number ?? invoice.id}.pdf`, pdf };
    },
  };
}
