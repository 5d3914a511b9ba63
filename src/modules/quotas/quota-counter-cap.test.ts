import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { createQuotaCounters } from './quota-counters.js';
import { periodBounds } from './quota-model.js';

const noon = Date.UTC(2026, 5, 10, 12);

/** Counters of one hard monthly unique_count quota of `limit`, all recent sets capped at `cap` values. */
function fixture(limit: number, cap: number) {
  const clock = { t: noon };
  const lookups: string[][] = [];
  const counters = createQuotaCounters({
    now: () => clock.t,
    maxRecentValues: cap,
    aggregationLagMs: 1000,
    load: (_org, at) => {
      const b = periodBounds('month', at);
      return Promise.resolve([
        {
          meter: 'users',
          period: 'month' as const,
          limit,
          enforcement: 'hard' as const,
          aggregation: 'unique_count' as const,
          usage: 0n,
          periodStart: b.start,
          periodEnd: b.end,
        },
      ]);
    },
    // The database holds every value any organization was seen with (this fixture's own record).
    lookupUnique: (_org, _meter, values) => {
      lookups.push([...values]);
      return Promise.resolve({ present: [...values].filter((v) => v.startsWith('u')), distinct: limit });
    },
  });
  return { clock, counters, lookups };
}

it('the recent values of all counters stay within the total cap: least recently used sets go first, at the cost of a lookup', async () => {
  const { clock, counters, lookups } = fixture(40, 100);
  const orgs = [randomUUID(), randomUUID(), randomUUID()];
  for (const org of orgs) {
    await counters.ready(org, clock.t);
    for (let i = 0; i < 40; i++) expect(counters.tryUnique(org, 'users', `u${i}`, clock.t)).toBeNull();
    clock.t += 5000; // past the aggregation lag: these values are no longer "maybe not stored"
  }
  // 120 values > 100: the first organization's set (least recently used) was dropped, the others kept.
  for (const org of orgs.slice(1)) expect(counters.tryUnique(org, 'users', 'u0', clock.t)).toBeNull();
  expect(lookups).toEqual([]);
  // The first one's value is not known here any more: at its limit it is looked up (one query), then accepted.
  expect(counters.tryUnique(orgs[0]!, 'users', 'u0', clock.t)).toBe('lookup');
  expect(await counters.checkUnique(orgs[0]!, 'users', 'u0', clock.t)).toBeNull();
  expect(lookups).toEqual([['u0']]);
  // A value new to it is still refused at the limit: dropping never lets more through.
  expect(await counters.checkUnique(orgs[0]!, 'users', 'x-new', clock.t)).toMatchObject({ limit: 40 });
});

it('values counted within the aggregation lag are dropped only when dropping every older one was not enough', async () => {
  const { clock, counters } = fixture(1000, 100);
  const [a, b] = [randomUUID(), randomUUID()];
  await counters.ready(a, clock.t);
  await counters.ready(b, clock.t);
  for (let i = 0; i < 60; i++) expect(counters.tryUnique(a, 'users', `u${i}`, clock.t)).toBeNull();
  clock.t += 10;
  // B's values push the total over the cap while A's are all recent: A's (least recently used) go.
  for (let i = 0; i < 50; i++) expect(counters.tryUnique(b, 'users', `u${i}`, clock.t)).toBeNull();
  expect(counters.usage(a, 'users', 'month', clock.t)).toBe(60n * 10n ** 12n); // the count itself is kept
  expect(counters.usage(b, 'users', 'month', clock.t)).toBe(50n * 10n ** 12n);
});
