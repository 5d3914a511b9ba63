import type { Composition } from '../../app/compose.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import { calendarPeriod } from './billing-period.js';
import { createBillingService } from './billing.service.js';
import type { Invoice } from './invoices.service.js';

/**
 * TEST SUPPORT: closes January 2026 for `tenantId` with a small fixed plan (what the period-end job does),
 * writing the invoice into the database: EUR 1,234.56 flat plus 150 sms in packages of 100 at 2.50.
 * Shared by the invoice route tests and the console billing test so both read the same invoice.
 */
export async function closeJanuary(
  c: Pick<Composition, 'tenancy'>,
  tenantId: string,
  requestId = 'r',
): Promise<Invoice> {
  const ctx: TenantCtx = { tenantId, actor: { kind: 'system', name: 'test' }, requestId };
  const billing = createBillingService({
    withTenant: c.tenancy.withTenant,
    issuer: 'saasready.test',
    now: () => new Date('2026-03-01T00:00:00Z'),
    inputs: {
      periodContaining: async (_ctx, day) => calendarPeriod('month', day),
      periodData: async (_ctx, period) => ({
        segments: [
          {
            planKey: 'team',
            fromDay: 0,
            toDay: period.days,
            price: {
              currency: 'EUR',
              interval: 'month',
              components: [
                { model: 'flat', amount: 123456 },
                { model: 'package', meter: 'sms', packageSize: 100, packageAmount: 250 },
              ],
            },
          },
        ],
        seats: 1,
        usage: { sms: 150 },
      }),
    },
  });
  return (await billing.closePeriod(ctx, { start: '2026-01-01', end: '2026-02-01' })).invoice;
}
