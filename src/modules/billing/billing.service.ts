import type { TenantCtx } from '../../platform/tenancy/context.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { finalizeInvoice } from '../../platform/tenancy/privileged.js';
import { recordAudit } from '../../platform/audit/record.js';
import { uuidv7 } from '../../platform/ids.js';
import { priceInvoice, type PricedInvoice, type PricingPeriod } from './pricing/price-invoice.js';
import type { BillingInputs } from './billing-inputs.js';
import { BillingError } from './billing.errors.js';
import { periodOf, utcDate } from './billing-period.js';
import { minorUnitsOf } from './currencies.js';
import { toInvoice, type Invoice } from './invoices.service.js';
import * as repo from './invoices.repository.js';

/** The current period's invoice as it stands, line by line (nothing stored). */
export interface InvoicePreview extends PricedInvoice {
  periodStart: string;
  /** Exclusive. */
  periodEnd: string;
}

export interface BillingService {
  /** The invoice of the period containing today, priced from the inputs as they are now. */
  preview(ctx: TenantCtx): Promise<InvoicePreview>;
  /**
   * Creates and finalizes the invoice of a billing period of the organization (as `periodContaining`
   * gives it) that has ended (`end` exclusive, on or before today).
   * Idempotent per organization and period: closing it again, or concurrently, returns the one invoice
   * (`created` false) and takes no second number. Audited `invoice.finalized`. The invoice keeps the
   * organization's name, the issuer and the currency's minor digits as they are now. When another
   * finalization holds the deployment's counter for more than 5 s: INVOICE_NUMBERING_BUSY (503), nothing
   * written, to retry.
   */
  closePeriod(
    ctx: TenantCtx,
    period: { start: string; end: string },
  ): Promise<{ invoice: Invoice; created: boolean }>;
}

/** Preview and period closing of the local provider, on the inputs port (billing-inputs.ts). */
export function createBillingService(deps: {
  withTenant: WithTenant;
  inputs: BillingInputs;
  /** Who issues the invoices, stored on each (the composition gives the host of PUBLIC_URL). */
  issuer: string;
  /** The clock (tests). */
  now?: () => Date;
}): BillingService {
  const { withTenant, inputs } = deps;
  const now = deps.now ?? (() => new Date());

  const price = async (ctx: TenantCtx, period: PricingPeriod) => {
    const data = await inputs.periodData(ctx, period);
    return priceInvoice({ period, segments: data.segments, seats: data.seats, usage: data.usage });
  };

  return {
    async preview(ctx) {
      const period = await inputs.periodContaining(ctx, utcDate(now()));
      const priced = await price(ctx, period);
      return { periodStart: period.start, periodEnd: period.end, ...priced };
    },

    async closePeriod(ctx, requested) {
      let period: PricingPeriod;
      try {
        period = periodOf(requested.start, requested.end);
      } catch (err) {
        throw new BillingError('INVALID_PERIOD', (err as Error).message);
      }
      const expected = await inputs.periodContaining(ctx, period.start);
      if (expected.start !== period.start || expected.end !== period.end) {
        throw new BillingError(
          'INVALID_PERIOD',
          `not a billing period of the organization (the one containing ${period.start}: ${expected.start} to ${expected.end})`,
        );
      }
      if (period.end > utcDate(now())) {
        throw new BillingError('PERIOD_NOT_CLOSED', `the period ending ${period.end} has not ended`);
      }
      const existing = await withTenant(
        ctx.tenantId,
        (db) => repo.findInvoiceOfPeriod(db, ctx.tenantId, period),
        { mode: 'read' },
      );
      if (existing) return { invoice: toInvoice(existing), created: false };

      // Priced before the transaction: the counter row is locked from finalization to commit, so the
      // transaction that holds it does nothing but write.
      const priced = await price(ctx, period);
      const id = uuidv7();
      const minorUnits = minorUnitsOf(priced.currency);
      return withTenant(ctx.tenantId, async (db) => {
        const customerName = await repo.organizationName(db, ctx.tenantId);
        if (!customerName) throw new Error('closePeriod: the organization has no name');
        const draft = {
          organization_id: ctx.tenantId,
          id,
          currency: priced.currency,
          period_start: period.start,
          period_end: period.end,
          subtotal: priced.subtotal,
          total: priced.total,
          lines: priced.lines,
          minor_units: minorUnits,
          customer_name: customerName,
          issuer: deps.issuer,
        };
        const createdAt = await repo.insertDraft(db, draft);
        if (!createdAt) {
          // Closed concurrently: the other close committed first (the insert waited for it).
          const other = await repo.findInvoiceOfPeriod(db, ctx.tenantId, period);
          if (!other) throw new Error('closePeriod: conflicting invoice vanished');
          return { invoice: toInvoice(other), created: false };
        }
        // From here to COMMIT the deployment's counter row is locked: one more statement, the audit event.
        const { number, finalizedAt } = await finalizeInvoice(db, ctx.tenantId, id).catch((err: unknown) => {
          if ((err as { code?: unknown }).code === '55P03') {
            throw new BillingError('INVOICE_NUMBERING_BUSY', 'invoice numbering is busy; retry');
          }
          throw err;
        });
        await recordAudit(db, ctx, {
          action: 'invoice.finalized',
          target: { type: 'invoice', id },
          metadata: {
            number,
            periodStart: period.start,
            periodEnd: period.end,
            currency: priced.currency,
            total: priced.total,
          },
        });
        const invoice: Invoice = {
          id,
          number,
          status: 'finalized',
          currency: priced.currency,
          minorUnits,
          customerName,
          issuer: deps.issuer,
          periodStart: period.start,
          periodEnd: period.end,
          subtotal: priced.subtotal,
          total: priced.total,
          lines: priced.lines,
          createdAt: createdAt.toISOString(),
          finalizedAt: finalizedAt.toISOString(),
        };
        return { invoice, created: true };
      });
    },
  };
}
