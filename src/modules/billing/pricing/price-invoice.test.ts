import { describe, expect, it } from 'vitest';
import type { PlanPrice, PriceComponent, PriceTier } from '../price-model.js';
import { calendarPeriod } from '../billing-period.js';
import { priceInvoice, type PlanSegment, type PricingInput } from './price-invoice.js';
import { priceProblems } from './validate-price.js';

/** Hand-computed examples for every model; amounts in minor units (cents). */

const JAN = calendarPeriod('month', '2026-01-15'); // 31 days
const price = (...components: PriceComponent[]): PlanPrice => ({
  currency: 'EUR',
  interval: 'month',
  components,
});
const whole = (p: PlanPrice, planKey = 'pro'): PlanSegment => ({
  planKey,
  price: p,
  fromDay: 0,
  toDay: JAN.days,
});
const run = (p: PlanPrice, usage: Record<string, number> = {}, seats = 0) =>
  priceInvoice({ period: JAN, segments: [whole(p)], seats, usage });
const amounts = (r: ReturnType<typeof run>) => r.lines.map((l) => l.amount);

const TIERS: PriceTier[] = [
  { upTo: 1000, unitAmount: 10 },
  { upTo: 10000, unitAmount: 8 },
  { upTo: null, unitAmount: 5 },
];

describe('pricing: one model at a time (hand-computed)', () => {
  it('flat: the fee for a whole period', () => {
    const r = run(price({ model: 'flat', amount: 2900 }));
    expect(r.lines).toEqual([
      {
        description: 'pro: Flat fee',
        planKey: 'pro',
        component: 'flat',
        quantity: 1,
        unitAmount: 2900,
        amount: 2900,
        periodStart: '2026-01-01',
        periodEnd: '2026-02-01',
      },
    ]);
    expect(r).toMatchObject({ currency: 'EUR', subtotal: 2900, total: 2900 });
  });

  it('per seat: unit × seats; zero seats, zero', () => {
    expect(run(price({ model: 'per_seat', unitAmount: 1200 }), {}, 7).total).toBe(8400);
    expect(run(price({ model: 'per_seat', unitAmount: 1200 }), {}, 0).total).toBe(0);
  });

  it('per unit: unit × usage; zero usage, a zero line', () => {
    const p = price({ model: 'per_unit', meter: 'api_calls', unitAmount: 3 });
    expect(run(p, { api_calls: 1234 }).lines[0]).toMatchObject({
      quantity: 1234,
      unitAmount: 3,
      amount: 3702,
    });
    expect(run(p, {}).lines).toMatchObject([{ quantity: 0, amount: 0 }]);
  });

  it('graduated: exactly at a tier boundary, one over, across every tier, zero', () => {
    const p = price({ model: 'graduated', meter: 'm', tiers: TIERS });
    expect(amounts(run(p, { m: 1000 }))).toEqual([10000]);
    expect(amounts(run(p, { m: 1001 }))).toEqual([10000, 8]);
    expect(run(p, { m: 1001 }).lines.map((l) => l.quantity)).toEqual([1000, 1]);
    expect(amounts(run(p, { m: 10000 }))).toEqual([10000, 72000]);
    expect(amounts(run(p, { m: 10001 }))).toEqual([10000, 72000, 5]);
    expect(run(p, { m: 10001 }).total).toBe(82005);
    expect(run(p, { m: 0 }).lines).toMatchObject([
      { quantity: 0, amount: 0, description: 'pro: m: no usage' },
    ]);
  });

  it('graduated with flat amounts: a tier’s flat fee once a unit falls in it', () => {
    const tiers: PriceTier[] = [
      { upTo: 1000, unitAmount: 0, flatAmount: 1500 },
      { upTo: null, unitAmount: 2, flatAmount: 700 },
    ];
    const p = price({ model: 'graduated', meter: 'm', tiers });
    expect(run(p, { m: 0 }).total).toBe(0);
    expect(run(p, { m: 1 }).total).toBe(1500);
    expect(run(p, { m: 1000 }).total).toBe(1500);
    expect(amounts(run(p, { m: 1001 }))).toEqual([0, 1500, 2, 700]);
  });

  it('volume: every unit at the tier the total falls in (at upTo, one over), zero', () => {
    const p = price({ model: 'volume', meter: 'm', tiers: TIERS });
    expect(run(p, { m: 1 }).total).toBe(10);
    expect(run(p, { m: 1000 }).total).toBe(10000);
    expect(run(p, { m: 1001 }).total).toBe(8008);
    expect(run(p, { m: 10000 }).total).toBe(80000);
    expect(run(p, { m: 10001 }).total).toBe(50005);
    expect(run(p, { m: 0 }).total).toBe(0);
    const flat = price({
      model: 'volume',
      meter: 'm',
      tiers: [{ upTo: null, unitAmount: 1, flatAmount: 99 }],
    });
    expect(amounts(run(flat, { m: 3 }))).toEqual([3, 99]);
  });

  it('package: per started package (rounded up)', () => {
    const p = price({ model: 'package', meter: 'sms', packageSize: 100, packageAmount: 250 });
    expect(run(p, { sms: 0 }).lines[0]).toMatchObject({ quantity: 0, amount: 0 });
    expect(run(p, { sms: 1 }).lines[0]).toMatchObject({ quantity: 1, unitAmount: 250, amount: 250 });
    expect(run(p, { sms: 100 }).total).toBe(250);
    expect(run(p, { sms: 101 }).total).toBe(500);
    expect(run(p, { sms: 1000 }).total).toBe(2500);
  });

  it('hybrid: base fee with included units, units beyond at the unit price', () => {
    const p = price({ model: 'hybrid', baseAmount: 2000, meter: 'gb', includedUnits: 500, unitAmount: 3 });
    expect(amounts(run(p, { gb: 0 }))).toEqual([2000, 0]);
    expect(amounts(run(p, { gb: 500 }))).toEqual([2000, 0]);
    expect(amounts(run(p, { gb: 501 }))).toEqual([2000, 3]);
    expect(run(p, { gb: 501 }).lines[1]).toMatchObject({ quantity: 1, meter: 'gb' });
  });

  it('an empty price (a free plan): no lines, total 0', () => {
    expect(run(price())).toMatchObject({ lines: [], subtotal: 0, total: 0 });
  });
});

describe('pricing: proration of a mid-period change (daily, rounded half up per line)', () => {
  const basic = price({ model: 'flat', amount: 3100 }, { model: 'per_unit', meter: 'm', unitAmount: 1 });
  const pro = price({ model: 'flat', amount: 6200 }, { model: 'per_unit', meter: 'm', unitAmount: 2 });
  const change = (day: number, period = JAN, a = basic, b = pro): PricingInput => ({
    period,
    segments: [
      { planKey: 'basic', price: a, fromDay: 0, toDay: day },
      { planKey: 'pro', price: b, fromDay: day, toDay: period.days },
    ],
    seats: 0,
    usage: { m: 10 },
  });

  it('on the first day: exactly the new plan alone', () => {
    const r = priceInvoice(change(0));
    expect(r).toEqual(priceInvoice({ period: JAN, segments: [whole(pro)], seats: 0, usage: { m: 10 } }));
    expect(amounts(r)).toEqual([6200, 20]);
  });

  it('on the last day: 30 of 31 days of the old fee, 1 of the new, usage at the new plan', () => {
    const r = priceInvoice(change(30));
    expect(r.lines.map((l) => [l.planKey, l.amount, l.periodStart, l.periodEnd])).toEqual([
      ['basic', 3000, '2026-01-01', '2026-01-31'],
      ['pro', 200, '2026-01-31', '2026-02-01'],
      ['pro', 20, '2026-01-01', '2026-02-01'],
    ]);
    expect(r.lines[0]!.description).toBe('basic: Flat fee (30 of 31 days)');
    expect(r.total).toBe(3220);
  });

  it('month lengths 28, 29, 30, 31: 1000 × 10 days / length, halves up', () => {
    const fee = price({ model: 'flat', amount: 1000 });
    const tenDays = (date: string) => {
      const period = calendarPeriod('month', date);
      return priceInvoice({
        period,
        segments: [{ planKey: 'x', price: fee, fromDay: 0, toDay: 10 }],
        seats: 0,
        usage: {},
      }).total;
    };
    expect(calendarPeriod('month', '2026-02-01').days).toBe(28);
    expect(tenDays('2026-02-10')).toBe(357); // 357.14
    expect(calendarPeriod('month', '2028-02-01').days).toBe(29);
    expect(tenDays('2028-02-10')).toBe(345); // 344.83
    expect(tenDays('2026-04-10')).toBe(333); // 333.33
    expect(tenDays('2026-01-10')).toBe(323); // 322.58
  });

  it('halves round up, per line; two halves of one fee may sum to one more than the fee', () => {
    const feb = calendarPeriod('month', '2026-02-01');
    const odd = price({ model: 'flat', amount: 1 });
    const r = priceInvoice(change(14, feb, odd, odd));
    expect(amounts(r)).toEqual([1, 1]);
    expect(r.total).toBe(2);
  });

  it('per-seat and hybrid base fees are prorated; included units are not', () => {
    const feb = calendarPeriod('month', '2026-02-01');
    const a = price({ model: 'per_seat', unitAmount: 1000 });
    const b = price({ model: 'hybrid', baseAmount: 5600, meter: 'm', includedUnits: 4, unitAmount: 100 });
    const r = priceInvoice({ ...change(7, feb, a, b), seats: 4 });
    // 4 × 1000 × 7/28 = 1000; 5600 × 21/28 = 4200; (10 − 4) × 100 = 600.
    expect(amounts(r)).toEqual([1000, 4200, 600]);
  });

  it('a yearly interval: days of a 365- and a 366-day year', () => {
    const y = price({ model: 'flat', amount: 36500 });
    y.interval = 'year';
    const z = { ...y, components: [{ model: 'flat', amount: 73200 }] } as PlanPrice;
    const in2026 = calendarPeriod('year', '2026-06-01');
    expect(in2026).toEqual({ start: '2026-01-01', end: '2027-01-01', days: 365 });
    expect(amounts(priceInvoice(change(73, in2026, y, z)))).toEqual([7300, 58560]);
    const in2028 = calendarPeriod('year', '2028-06-01');
    expect(in2028.days).toBe(366);
    expect(amounts(priceInvoice(change(183, in2028, z, z)))).toEqual([36600, 36600]);
  });

  it('days without a plan are not charged', () => {
    const r = priceInvoice({
      period: JAN,
      segments: [{ planKey: 'pro', price: pro, fromDay: 21, toDay: 31 }],
      seats: 0,
      usage: {},
    });
    expect(amounts(r)).toEqual([2000, 0]);
    expect(r.lines[0]!.periodStart).toBe('2026-01-22');
  });
});

describe('pricing: refusals', () => {
  const p = price({ model: 'flat', amount: 100 });
  const base: PricingInput = { period: JAN, segments: [whole(p)], seats: 0, usage: {} };
  it('malformed periods and segments', () => {
    expect(() => priceInvoice({ ...base, period: { ...JAN, days: 30 } })).toThrow(/period.days/);
    expect(() => priceInvoice({ ...base, segments: [] })).toThrow(/no plan/);
    expect(() =>
      priceInvoice({
        ...base,
        segments: [
          { planKey: 'a', price: p, fromDay: 0, toDay: 10 },
          { planKey: 'b', price: p, fromDay: 9, toDay: 31 },
        ],
      }),
    ).toThrow(/overlapping/);
    expect(() => priceInvoice({ ...base, segments: [{ ...whole(p), toDay: 32 }] })).toThrow(
      /within the period/,
    );
    expect(() => priceInvoice({ ...base, seats: -1 })).toThrow(/seats/);
    expect(() => priceInvoice({ ...base, seats: 1.5 })).toThrow(/seats/);
  });

  it('mixed currencies or intervals within a period', () => {
    const usd = { ...p, currency: 'USD' as const };
    const two = (q: PlanPrice): PricingInput => ({
      ...base,
      segments: [
        { planKey: 'a', price: p, fromDay: 0, toDay: 10 },
        { planKey: 'b', price: q, fromDay: 10, toDay: 31 },
      ],
    });
    expect(() => priceInvoice(two(usd))).toThrow(/currency/);
    expect(() => priceInvoice(two({ ...p, interval: 'year' }))).toThrow(/interval/);
  });

  it('tiers out of order or bounded at the end; fractional usage', () => {
    const bad = (tiers: PriceTier[]) => priceProblems(price({ model: 'volume', meter: 'm', tiers }));
    expect(bad(TIERS)).toEqual([]);
    expect(bad([{ upTo: 10, unitAmount: 1 }])).toEqual([
      expect.stringMatching(/last tier must be unbounded/),
    ]);
    expect(
      bad([
        { upTo: 10, unitAmount: 1 },
        { upTo: 10, unitAmount: 1 },
        { upTo: null, unitAmount: 1 },
      ]),
    ).toEqual([expect.stringMatching(/above the previous/)]);
    expect(
      bad([
        { upTo: null, unitAmount: 1 },
        { upTo: null, unitAmount: 1 },
      ]),
    ).toEqual([expect.stringMatching(/only the last/)]);
    const metered = price({ model: 'per_unit', meter: 'm', unitAmount: 1 });
    expect(() => run(metered, { m: 0.5 })).toThrow(/usage of m/);
    expect(() => run(price({ model: 'flat', amount: 1.5 }))).toThrow(/INVALID|minor units/);
  });

  it('an amount past 2^53 − 1 is refused, never rounded', () => {
    const p2 = price({ model: 'per_unit', meter: 'm', unitAmount: Number.MAX_SAFE_INTEGER });
    expect(run(p2, { m: 1 }).total).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => run(p2, { m: 2 })).toThrow(expect.objectContaining({ code: 'AMOUNT_OVERFLOW' }));
    const two = price({ model: 'flat', amount: Number.MAX_SAFE_INTEGER }, { model: 'flat', amount: 1 });
    expect(() => run(two)).toThrow(/total/);
  });
});
