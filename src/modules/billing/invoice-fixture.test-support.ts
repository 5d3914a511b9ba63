import type { Composition } from '../../app/compose.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import { calendarPeriod } from './billing-period.js';
import { createBillingService } from './billing.service.js';
import type { Invoice } from './invoices.service.js';
import type { PriceComponent } from './price-model.js';

/** The fixed plan inputs of {@link closeJanuary}; each field has the default shown. */
export interface JanuaryPlan {
  /** The clock of the close; default 2026-03-01. */
  readonly now?: string;
  /** Default `team`. */
  readonly planKey?: string;
  /** Default EUR 1,234.56 flat plus sms in packages of 100 at 2.50 (EUR, monthly). */
  readonly components?: PriceComponent[];
  /** Default `{ sms: 150 }`. */
  readonly usage?: Record<string, number>;
}

/**
 * TEST SUPPORT: closes January 2026 for `tenantId` on fixed plan inputs (what the period-end job does),
 * writing the invoice into the database, one seat, the plan in effect all month. Shared by the invoice
 * route tests, the console billing test and the cross-tenant test so each reads an invoice made one way.
 */
export async function closeJanuary(
  c: Pick<Composition, 'tenancy'>,
  tenantId: string,
  requestId = 'r',
  plan: JanuaryPlan = {},
): Promise<Invoice> {
  const ctx: TenantCtx = { tenantId, actor: { kind: 'system', name: 'test' }, requestId };
  const billing = createBillingService({
    withTenant: c.tenancy.withTenant,
    issuer: 'saasready.test',
    now: () => new Date(plan.now ?? '2026-03-01T00:00:00Z'),
    inputs: {
      periodContaining: async (_ctx, day) => calendarPeriod('month', day),
      periodData: async (_ctx, period) => ({
        segments: [
          {
            planKey: plan.planKey ?? 'team',
            fromDay: 0,
            toDay: period.days,
            price: {
              currency: 'EUR',
              interval: 'month',
              components: plan.components ?? [
                { model: 'flat', amount: 123456 },
                { model: 'package', meter: 'sms', packageSize: 100, packageAmount: 250 },
              ],
            },
          },
        ],
        seats: 1,
        usage: plan.usage ?? { sms: 150 },
      }),
    },
  });
  return (await billing.closePeriod(ctx, { start: '2026-01-01', end: '2026-02-01' })).invoice;
}
