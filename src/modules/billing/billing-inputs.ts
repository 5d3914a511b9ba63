import type { TenantCtx } from '../../platform/tenancy/context.js';
import type { PlanSegment, PricingPeriod } from './pricing/price-invoice.js';

/**
 * What the billing service needs from the rest of the product, as a narrow port: the plan catalog and
 * plan history give the period and the plans in effect, the memberships the seats, metering the usage.
 * The composition root wires it to the real modules; tests give fixtures.
 */
export interface BillingInputs {
  /**
   * The billing period of the organization that contains `day` (`YYYY-MM-DD`, UTC): the calendar month or
   * year of its plan's interval (`calendarPeriod` in billing-period.ts).
   */
  periodContaining(ctx: TenantCtx, day: string): Promise<PricingPeriod>;
  /** What the invoice of `period` is computed from. */
  periodData(ctx: TenantCtx, period: PricingPeriod): Promise<PeriodData>;
}

export interface PeriodData {
  /**
   * The plans in effect during the period, in order, days counted from its start (`toDay` exclusive). For
   * the current period the plan in effect now runs to the period's end (the preview assumes no change).
   * Every plan of one period has the same currency and interval: a change of either takes effect at the
   * next period (the engine refuses otherwise).
   */
  segments: PlanSegment[];
  /** Seats charged by per-seat components (e.g. the active members at the period's end). */
  seats: number;
  /** The period's usage per meter key in whole units (so far, for the current period). */
  usage: Record<string, number>;
}
