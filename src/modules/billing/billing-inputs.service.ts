import type { TenantCtx } from '../../platform/tenancy/context.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { PlanSegment } from './pricing/price-invoice.js';
import type { PlanPrice } from './price-model.js';
import type { BillingInputs, PeriodData } from './billing-inputs.js';
import { addDays, calendarPeriod, daysBetween, utcDate } from './billing-period.js';
import { BillingError } from './billing.errors.js';
import * as repo from './billing-inputs.repository.js';

const dayStart = (day: string) => new Date(`${day}T00:00:00Z`);
const monthStart = (day: string) => day.endsWith('-01');

/** Whole, non-negative, safe units from an exact decimal; undefined otherwise. */
function wholeUnits(value: string): number | undefined {
  const m = /^(\d+)(?:\.0*)?$/.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * The plan in effect on `day` (a change on a day takes effect from that day's start, UTC): the last
 * change on or before it; before the first change, that change's `from_plan`; with no change at all,
 * the current plan (the organization has had it since its creation).
 */
async function planOnDay(db: TenantDb, orgId: string, day: string): Promise<string> {
  const last = await repo.lastChangeBefore(db, orgId, dayStart(addDays(day, 1)));
  if (last) return last.to_plan;
  const first = await repo.firstChange(db, orgId);
  if (first) return first.from_plan;
  const org = await repo.organizationPlanRow(db, orgId);
  if (!org) throw new Error('billing inputs: the organization does not exist');
  return org.plan;
}

function priceOf(prices: Map<string, PlanPrice>, key: string): PlanPrice {
  const price = prices.get(key);
  if (!price) throw new Error(`billing inputs: plan "${key}" is not in the catalog`);
  return price;
}

/**
 * The billing inputs of the local provider, read from the plan history, the plan catalog, the
 * memberships and the usage aggregates (rules in docs/billing.md, "Inputs").
 */
export function createBillingInputs(deps: { withTenant: WithTenant }): BillingInputs {
  const read = <T>(ctx: TenantCtx, fn: (db: TenantDb) => Promise<T>) =>
    deps.withTenant(ctx.tenantId, fn, { mode: 'read' });

  return {
    periodContaining(ctx, day) {
      return read(ctx, async (db) => {
        const key = await planOnDay(db, ctx.tenantId, day);
        const prices = await repo.planPrices(db, [key]);
        return calendarPeriod(priceOf(prices, key).interval, day);
      });
    },

    periodData(ctx, period) {
      return read(ctx, async (db): Promise<PeriodData> => {
        const orgId = ctx.tenantId;
        const org = await repo.organizationPlanRow(db, orgId);
        if (!org) throw new Error('billing inputs: the organization does not exist');
        const [start, end] = [dayStart(period.start), dayStart(period.end)];
        const before = await repo.lastChangeBefore(db, orgId, start);
        const changes = await repo.changesBetween(db, orgId, start, end);
        const initial = before
          ? before.to_plan
          : (changes[0]?.from_plan ?? (await repo.firstChange(db, orgId))?.from_plan ?? org.plan);

        // Days before the organization existed carry no plan.
        let fromDay = Math.max(0, daysBetween(period.start, utcDate(org.created_at)));
        let current = initial;
        const spans: { planKey: string; fromDay: number; toDay: number }[] = [];
        const close = (toDay: number) => {
          if (toDay <= fromDay) return;
          const prev = spans[spans.length - 1];
          if (prev && prev.planKey === current && prev.toDay === fromDay) prev.toDay = toDay;
          else spans.push({ planKey: current, fromDay, toDay });
        };
        for (const c of changes) {
          const day = Math.min(period.days, daysBetween(period.start, utcDate(c.changed_at)));
          close(day);
          fromDay = Math.max(fromDay, day);
          current = c.to_plan;
        }
        close(period.days);

        const prices = await repo.planPrices(db, [...new Set(spans.map((s) => s.planKey))]);
        const segments: PlanSegment[] = spans.map((s) => ({ ...s, price: priceOf(prices, s.planKey) }));

        const meters = [
          ...new Set(
            segments.flatMap((s) => s.price.components.flatMap((c) => ('meter' in c ? [c.meter] : []))),
          ),
        ];
        const usage: Record<string, number> = {};
        for (const row of await repo.periodUsage(db, orgId, meters, start, end)) {
          // Distinct values are kept per calendar month (UTC): a period of whole months is billable.
          if (row.aggregation === 'unique_count' && !(monthStart(period.start) && monthStart(period.end))) {
            throw new BillingError(
              'USAGE_NOT_BILLABLE',
              `meter "${row.meter}" counts distinct values per calendar month: a period from ${period.start} to ${period.end} is not made of whole months`,
            );
          }
          const units = wholeUnits(row.value);
          if (units === undefined) {
            throw new BillingError(
              'USAGE_NOT_BILLABLE',
              `meter "${row.meter}" has a usage of ${row.value} in the period, not a whole number of units`,
            );
          }
          usage[row.meter] = units;
        }
        const seats = await repo.activeMemberships(db, orgId);
        return { segments, seats, usage };
      });
    },
  };
}
