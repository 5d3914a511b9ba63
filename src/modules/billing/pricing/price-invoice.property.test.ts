import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { PlanPrice, PriceComponent, PriceTier } from '../price-model.js';
import { calendarPeriod } from '../billing-period.js';
import { priceInvoice, type PlanSegment } from './price-invoice.js';

/** Random plans, changes and usage: the invariants every invoice keeps. */

const METERS = ['api_calls', 'storage_gb', 'sms'] as const;
const meter = fc.constantFrom(...METERS);
const amount = fc.integer({ min: 0, max: 1_000_000 });

const tiers: fc.Arbitrary<PriceTier[]> = fc
  .uniqueArray(fc.integer({ min: 1, max: 100_000 }), { minLength: 0, maxLength: 4 })
  .chain((bounds) =>
    fc.tuple(
      ...[...bounds.sort((a, b) => a - b), null].map((upTo) =>
        fc.record({
          upTo: fc.constant(upTo),
          unitAmount: amount,
          flatAmount: fc.option(amount, { nil: undefined }),
        }),
      ),
    ),
  )
  .map((ts) => ts.map((t) => (t.flatAmount === undefined ? { upTo: t.upTo, unitAmount: t.unitAmount } : t)));

const component: fc.Arbitrary<PriceComponent> = fc.oneof(
  fc.record({ model: fc.constant('flat' as const), amount }),
  fc.record({ model: fc.constant('per_seat' as const), unitAmount: amount }),
  fc.record({ model: fc.constant('per_unit' as const), meter, unitAmount: amount }),
  fc.record({ model: fc.constant('graduated' as const), meter, tiers }),
  fc.record({ model: fc.constant('volume' as const), meter, tiers }),
  fc.record({
    model: fc.constant('package' as const),
    meter,
    packageSize: fc.integer({ min: 1, max: 1000 }),
    packageAmount: amount,
  }),
  fc.record({
    model: fc.constant('hybrid' as const),
    baseAmount: amount,
    meter,
    includedUnits: fc.integer({ min: 0, max: 10_000 }),
    unitAmount: amount,
  }),
);

const plan = (interval: 'month' | 'year'): fc.Arbitrary<PlanPrice> =>
  fc.record({
    currency: fc.constant('EUR'),
    interval: fc.constant(interval),
    components: fc.array(component, { maxLength: 6 }),
  });

const scenario = fc
  .record({
    interval: fc.constantFrom('month' as const, 'year' as const),
    date: fc.date({ min: new Date('2020-01-01'), max: new Date('2035-12-31'), noInvalidDate: true }),
  })
  .chain(({ interval, date }) => {
    const period = calendarPeriod(interval, date.toISOString().slice(0, 10));
    return fc.record({
      period: fc.constant(period),
      plans: fc.array(plan(interval), { minLength: 1, maxLength: 3 }),
      cuts: fc.uniqueArray(fc.integer({ min: 1, max: period.days - 1 }), { maxLength: 2 }),
      gapAtStart: fc.integer({ min: 0, max: 3 }),
      seats: fc.integer({ min: 0, max: 500 }),
      usage: fc.record({
        api_calls: fc.integer({ min: 0, max: 10_000_000 }),
        storage_gb: fc.integer({ min: 0, max: 100_000 }),
        sms: fc.integer({ min: 0, max: 50_000 }),
      }),
    });
  });

function segmentsOf(s: Scenario): PlanSegment[] {
  const bounds = [
    s.gapAtStart,
    ...s.cuts.filter((c) => c > s.gapAtStart).sort((a, b) => a - b),
    s.period.days,
  ];
  return bounds.slice(0, -1).map((from, i) => ({
    planKey: `p${i}`,
    price: s.plans[i % s.plans.length]!,
    fromDay: from,
    toDay: bounds[i + 1]!,
  }));
}
type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

describe('pricing properties (fast-check)', () => {
  it('the lines sum to the total exactly; every amount and quantity is a non-negative integer', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const r = priceInvoice({ period: s.period, segments: segmentsOf(s), seats: s.seats, usage: s.usage });
        let sum = 0;
        for (const l of r.lines) {
          for (const v of [l.amount, l.quantity, l.unitAmount ?? 0]) {
            expect(Number.isSafeInteger(v) && v >= 0).toBe(true);
          }
          expect(l.periodStart < l.periodEnd).toBe(true);
          sum += l.amount;
        }
        expect(Number.isSafeInteger(sum)).toBe(true);
        expect(r.subtotal).toBe(sum);
        expect(r.total).toBe(sum);
      }),
      { numRuns: 400 },
    );
  });

  it('a change on day 0 gives exactly the new plan alone', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const [oldPlan, newPlan] = [s.plans[0]!, s.plans[s.plans.length - 1]!];
        const base = { period: s.period, seats: s.seats, usage: s.usage };
        const changed = priceInvoice({
          ...base,
          segments: [
            { planKey: 'old', price: oldPlan, fromDay: 0, toDay: 0 },
            { planKey: 'new', price: newPlan, fromDay: 0, toDay: s.period.days },
          ],
        });
        const alone = priceInvoice({
          ...base,
          segments: [{ planKey: 'new', price: newPlan, fromDay: 0, toDay: s.period.days }],
        });
        expect(changed).toEqual(alone);
      }),
      { numRuns: 200 },
    );
  });

  it('a whole period on one plan charges every fixed fee exactly once', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const p = s.plans[0]!;
        const r = priceInvoice({
          period: s.period,
          segments: [{ planKey: 'p', price: p, fromDay: 0, toDay: s.period.days }],
          seats: s.seats,
          usage: s.usage,
        });
        const flat = p.components.filter((c) => c.model === 'flat').reduce((a, c) => a + c.amount, 0);
        expect(r.lines.filter((l) => l.component === 'flat').reduce((a, l) => a + l.amount, 0)).toBe(flat);
      }),
      { numRuns: 100 },
    );
  });
});
