import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createQuotaCounters, type Refusal } from './quota-counters.js';
import { periodBounds, UNIT, type QuotaAggregation } from './quota-model.js';
import type { QuotaUsageRow } from './quotas.repository.js';

const u = (n: number) => BigInt(n) * UNIT;
const noon = Date.UTC(2026, 5, 10, 12);

/** Counters over one meter of kind `aggregation` with a hard day and a hard month quota. */
function fixture(aggregation: QuotaAggregation, limits: { day: number; month: number }) {
  let t = noon;
  const aggregated = { day: 0, month: 0 };
  const refusals: Refusal[] = [];
  const lookups: { value: string; exists: boolean; distinct: number }[] = [];
  const counters = createQuotaCounters({
    now: () => t,
    refreshMs: 10_000,
    onRefused: (_org, r) => refusals.push(r),
    lookupUnique: (_org, _meter, values) => {
      const found = lookups.filter((l) => values.includes(l.value));
      return Promise.resolve({
        present: found.filter((l) => l.exists).map((l) => l.value),
        distinct: found[0]?.distinct ?? 0,
      });
    },
    load: (_org, at) =>
      Promise.resolve(
        (['day', 'month'] as const).map((period): QuotaUsageRow => {
          const b = periodBounds(period, at);
          return {
            meter: 'm',
            period,
            limit: limits[period],
            enforcement: 'hard',
            aggregation,
            usage: u(aggregated[period]),
            periodStart: b.start,
            periodEnd: b.end,
          };
        }),
      ),
  });
  return { counters, aggregated, refusals, lookups, advance: (ms: number) => (t += ms) };
}

describe('quota counters of max, latest and unique_count meters', () => {
  it('max: a value over a limit is refused once per period (the quota that resets last reported), equal accepted, usage the known max', async () => {
    const f = fixture('max', { day: 100, month: 50 });
    const org = randomUUID();
    await f.counters.ready(org, noon);
    expect(f.counters.tryConsume(org, 'm', u(50), noon)).toBeNull();
    expect(f.counters.tryConsume(org, 'm', u(20), noon)).toBeNull();
    const over = f.counters.tryConsume(org, 'm', u(101), noon);
    expect(over).toMatchObject({ period: 'month', limit: 50, usage: 50 });
    expect(f.counters.tryConsume(org, 'm', u(51), noon)).toMatchObject({ period: 'month' });
    expect(f.refusals).toHaveLength(1);
    expect(f.counters.usage(org, 'm', 'day', noon)).toBe(u(50));
    // Nothing to give back: `add` leaves a max alone.
    f.counters.add(org, 'm', -u(50), noon);
    expect(f.counters.usage(org, 'm', 'day', noon)).toBe(u(50));
  });

  it('latest: the known value is the accepted event with the latest timestamp; a read takes the aggregates once it is old', async () => {
    const f = fixture('latest', { day: 10, month: 10 });
    const org = randomUUID();
    await f.counters.ready(org, noon);
    expect(f.counters.tryConsume(org, 'm', u(7), noon)).toBeNull();
    expect(f.counters.tryConsume(org, 'm', u(2), noon - 60_000)).toBeNull(); // a late event
    expect(f.counters.usage(org, 'm', 'day', noon)).toBe(u(7));
    expect(f.counters.tryConsume(org, 'm', u(11), noon - 60_000)).toMatchObject({ limit: 10, usage: 7 });
    f.aggregated.day = 4;
    f.advance(60_000);
    await f.counters.ready(org, noon); // stale: reloads in the background
    await new Promise((r) => setTimeout(r, 0));
    expect(f.counters.usage(org, 'm', 'day', noon)).toBe(u(4));
  });

  it('unique_count: below the limit new values count once; at it a known value passes, a new one is looked up (once) and refused', async () => {
    const f = fixture('unique_count', { day: 2, month: 100 });
    const org = randomUUID();
    await f.counters.ready(org, noon);
    expect(f.counters.tryUnique(org, 'm', 'a', noon)).toBeNull();
    expect(f.counters.tryUnique(org, 'm', 'a', noon)).toBeNull();
    expect(f.counters.tryUnique(org, 'm', 'b', noon)).toBeNull();
    expect(f.counters.usage(org, 'm', 'day', noon)).toBe(u(2));
    expect(f.counters.tryUnique(org, 'm', 'a', noon)).toBeNull();
    expect(f.counters.tryUnique(org, 'm', 'c', noon)).toBe('lookup');
    // Stored: a and b (the batch may not have committed them: counted as in flight, not twice).
    f.lookups.push({ value: 'c', exists: false, distinct: 0 });
    expect(await f.counters.checkUnique(org, 'm', 'c', noon)).toMatchObject({ limit: 2, usage: 2 });
    expect(f.refusals).toHaveLength(1);
    // A value the period holds already (another instance accepted it) passes and adds nothing.
    f.lookups.push({ value: 'd', exists: true, distinct: 2 });
    expect(f.counters.tryUnique(org, 'm', 'd', noon)).toBe('lookup');
    expect(await f.counters.checkUnique(org, 'm', 'd', noon)).toBeNull();
    expect(f.counters.tryUnique(org, 'm', 'd', noon)).toBeNull();
    expect(f.counters.usage(org, 'm', 'day', noon)).toBe(u(2));
  });

  it('unique_count: a read is the aggregated count plus the values accepted in the lag window, not older ones', async () => {
    const f = fixture('unique_count', { day: 100, month: 100 });
    const org = randomUUID();
    await f.counters.ready(org, noon);
    for (const v of ['a', 'b', 'c']) f.counters.tryUnique(org, 'm', v, noon);
    f.aggregated.day = 1; // one of them aggregated so far
    f.advance(10_000);
    await f.counters.ready(org, noon);
    await new Promise((r) => setTimeout(r, 0));
    expect(f.counters.usage(org, 'm', 'day', noon)).toBe(u(4)); // 1 + 3 recent (never fewer)
    f.aggregated.day = 3;
    f.advance(40_000);
    await f.counters.ready(org, noon);
    await new Promise((r) => setTimeout(r, 0));
    expect(f.counters.usage(org, 'm', 'day', noon)).toBe(u(3)); // aged out: the aggregates alone
  });
});
