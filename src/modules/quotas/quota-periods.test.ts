import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { createQuotaCounters, type Refusal } from './quota-counters.js';
import { periodBounds, toUnits, UNIT, type QuotaPeriod } from './quota-model.js';
import type { QuotaUsageRow } from './quotas.repository.js';

// Regression tests of the review (repro in quota-repro.test.ts of the review), asserting the fixed
// behaviour: every period an event can land in has its own counter, and only now() decides "current".

const DAY = 86_400_000;
const u = (n: number) => BigInt(n) * UNIT;

/** Counters over one hard quota of `meter`; `aggregated(start)` is the aggregated usage of a period. */
function counters(
  clock: { t: number },
  limit: number,
  aggregated: (start: number) => number,
  opts: { period?: QuotaPeriod; onRefused?: (org: string, r: Refusal) => void } = {},
) {
  const loads: number[] = [];
  const c = createQuotaCounters({
    now: () => clock.t,
    refreshMs: 10_000,
    onRefused: opts.onRefused,
    load: (_org, at) => {
      loads.push(at);
      const b = periodBounds(opts.period ?? 'day', at);
      const row: QuotaUsageRow = {
        meter: 'm',
        period: opts.period ?? 'day',
        limit,
        enforcement: 'hard',
        aggregation: 'count',
        usage: u(aggregated(b.start)),
        periodStart: b.start,
        periodEnd: b.end,
      };
      return Promise.resolve([row]);
    },
  });
  return { c, loads };
}

it('one event stamped just after midnight neither resets nor disables the current day’s quota', async () => {
  const clock = { t: Date.UTC(2026, 5, 10, 23, 57) }; // 3 minutes before midnight (futureMs is 5 min)
  const { c } = counters(clock, 10, () => 0);
  const org = randomUUID();
  await c.ready(org);
  for (let i = 0; i < 10; i++) expect(c.tryConsume(org, 'm', u(1), clock.t)).toBeNull();
  expect(c.tryConsume(org, 'm', u(1), clock.t)).not.toBeNull(); // limit reached
  // An event stamped 00:01 the next day goes into the next day's own counter (loaded on demand).
  const early = clock.t + 4 * 60_000;
  await c.ready(org, early);
  expect(c.tryConsume(org, 'm', u(1), early)).toBeNull();
  expect(c.usage(org, 'm', 'day', early)).toBe(u(1));
  // The current day is still full: every further event of it is refused.
  let passed = 0;
  for (let i = 0; i < 1000; i++) if (c.tryConsume(org, 'm', u(1), clock.t) === null) passed++;
  expect(passed).toBe(0);
  expect(c.usage(org, 'm', 'day')).toBe(u(10));
  // Midnight passes by the server's clock: the next day's counter keeps the early event.
  clock.t = early + 60_000;
  await c.ready(org);
  expect(c.usage(org, 'm', 'day')).toBe(u(1));
});

it('backdated events (yesterday, inside the lateness window) are checked against yesterday’s quota', async () => {
  const clock = { t: Date.UTC(2026, 5, 10, 12) };
  const today = periodBounds('day', clock.t).start;
  // Today has 10 of 10 aggregated; yesterday 7 of 10.
  const { c, loads } = counters(clock, 10, (start) => (start === today ? 10 : 7));
  const org = randomUUID();
  await c.ready(org);
  expect(c.tryConsume(org, 'm', u(1), clock.t)).not.toBeNull();
  const yesterday = clock.t - DAY;
  await c.ready(org, yesterday);
  let passed = 0;
  for (let i = 0; i < 1000; i++) if (c.tryConsume(org, 'm', u(1), yesterday) === null) passed++;
  expect(passed).toBe(3); // aggregated 7 + 3 counted = the limit
  const refused = c.tryConsume(org, 'm', u(1), yesterday);
  expect(refused).toMatchObject({ usage: 10, limit: 10, resetAt: new Date(today).toISOString() });
  // Loaded once per period, then cached (checks run without I/O).
  expect(loads.length).toBe(2);
  expect(c.ready(org, yesterday - 3600_000)).toBeUndefined();
});

it('a month quota: a late event of the previous month is checked against that month', async () => {
  const clock = { t: Date.UTC(2026, 6, 1, 1) }; // 1 July, 01:00
  const july = periodBounds('month', clock.t).start;
  const { c } = counters(clock, 5, (start) => (start === july ? 0 : 5), { period: 'month' });
  const org = randomUUID();
  await c.ready(org);
  expect(c.tryConsume(org, 'm', u(1), clock.t)).toBeNull();
  const lateJune = clock.t - 2 * 3600_000;
  await c.ready(org, lateJune);
  expect(c.tryConsume(org, 'm', u(1), lateJune)).toMatchObject({ period: 'month', usage: 5 });
});

it('sum meters: exact decimals (0.7 + 0.1 + 0.2 is exactly the limit of 1); non-positive amounts are not counted', async () => {
  const clock = { t: Date.UTC(2026, 5, 10, 12) };
  const { c } = counters(clock, 1, () => 0);
  const org = randomUUID();
  await c.ready(org);
  for (const v of ['0.7', '0.1', '0.2']) expect(c.tryConsume(org, 'm', toUnits(v))).toBeNull();
  expect(c.usage(org, 'm', 'day')).toBe(UNIT); // with doubles: 0.9999999999999999
  expect(c.tryConsume(org, 'm', toUnits('0.000000000001'))).toMatchObject({ usage: 1, limit: 1 });
  // A negative value neither makes room nor is refused.
  expect(c.tryConsume(org, 'm', toUnits('-5'))).toBeNull();
  expect(c.usage(org, 'm', 'day')).toBe(UNIT);
  expect(c.tryConsume(org, 'm', toUnits('0.5'))).not.toBeNull();
});

it('a refusal is reported once per period, with the usage it stopped at (the limit-reached notice)', async () => {
  const clock = { t: Date.UTC(2026, 5, 10, 12) };
  const reported: Refusal[] = [];
  const { c } = counters(clock, 10, () => 0, { onRefused: (_o, r) => reported.push(r) });
  const org = randomUUID();
  await c.ready(org);
  expect(c.tryConsume(org, 'm', u(9))).toBeNull();
  expect(c.tryConsume(org, 'm', u(5))).not.toBeNull(); // a weighted event that does not fit: 9 of 10
  expect(c.tryConsume(org, 'm', u(2))).not.toBeNull();
  expect(reported).toHaveLength(1);
  expect(reported[0]).toMatchObject({ meter: 'm', period: 'day', limit: 10, usage: u(9) });
  expect(reported[0]!.periodStart).toBe(periodBounds('day', clock.t).start);
});
