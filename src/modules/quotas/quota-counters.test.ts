import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createQuotaCounters } from './quota-counters.js';
import { periodBounds, UNIT } from './quota-model.js';
import type { QuotaUsageRow } from './quotas.repository.js';

const DAY = 86_400_000;
/** `n` in quota units (10^-12). */
const u = (n: number) => BigInt(n) * UNIT;

/** A loader standing in for the aggregates: `aggregated[org]` per meter, counted per call. */
function fixture(limit: number, start: number) {
  let t = start;
  const aggregated = new Map<string, number>();
  let loads = 0;
  const counters = createQuotaCounters({
    now: () => t,
    refreshMs: 10_000,
    load: (orgId, at) => {
      loads++;
      const b = periodBounds('day', at);
      const row: QuotaUsageRow = {
        meter: 'api_requests',
        period: 'day',
        limit,
        enforcement: 'hard',
        aggregation: 'count',
        usage: u(aggregated.get(orgId) ?? 0),
        periodStart: b.start,
        periodEnd: b.end,
      };
      return Promise.resolve([row]);
    },
  });
  return {
    counters,
    aggregated,
    loads: () => loads,
    advance: (ms: number) => (t += ms),
    now: () => t,
  };
}

describe('quota counters', () => {
  const noon = Date.UTC(2026, 5, 10, 12);

  it('loads once, then checks without I/O; refuses the request that would pass the limit', async () => {
    const f = fixture(3, noon);
    const org = randomUUID();
    await f.counters.ready(org);
    expect(f.counters.ready(org)).toBeUndefined(); // loaded: synchronous
    expect([1, 2, 3].map(() => f.counters.tryConsume(org, 'api_requests', u(1)))).toEqual([null, null, null]);
    const over = f.counters.tryConsume(org, 'api_requests', u(1));
    expect(over).toMatchObject({ meter: 'api_requests', limit: 3, usage: 3 });
    expect(over?.resetAt).toBe(new Date(Date.UTC(2026, 5, 11)).toISOString());
    expect(over?.retryAfterSeconds).toBe(12 * 3600);
    expect(f.loads()).toBe(1);
    // A reservation given back (the request failed) frees one.
    f.counters.add(org, 'api_requests', u(-1));
    expect(f.counters.tryConsume(org, 'api_requests', u(1))).toBeNull();
  });

  it('a reload never lowers what this instance counted, and raises it to the aggregated usage', async () => {
    const f = fixture(100, noon);
    const org = randomUUID();
    await f.counters.ready(org);
    for (let i = 0; i < 10; i++) f.counters.tryConsume(org, 'api_requests', u(1));
    f.aggregated.set(org, 4); // the aggregates lag behind this instance's own 10
    f.advance(10_000);
    void f.counters.ready(org); // background reload
    await new Promise((r) => setTimeout(r, 0));
    expect(f.counters.usage(org, 'api_requests', 'day')).toBe(u(10));
    f.aggregated.set(org, 50); // other instances' usage shows up
    f.advance(10_000);
    void f.counters.ready(org);
    await new Promise((r) => setTimeout(r, 0));
    expect(f.counters.usage(org, 'api_requests', 'day')).toBe(u(50));
    expect(f.loads()).toBe(3);
  });

  it('a new period starts from zero; organizations are counted apart', async () => {
    const f = fixture(2, noon);
    const a = randomUUID();
    const b = randomUUID();
    await f.counters.ready(a);
    await f.counters.ready(b);
    f.counters.tryConsume(a, 'api_requests', u(1));
    f.counters.tryConsume(a, 'api_requests', u(1));
    expect(f.counters.tryConsume(a, 'api_requests', u(1))).not.toBeNull();
    expect(f.counters.tryConsume(b, 'api_requests', u(1))).toBeNull();
    f.advance(DAY);
    await f.counters.ready(a); // the new day's periods are loaded before a check
    expect(f.counters.tryConsume(a, 'api_requests', u(1))).toBeNull();
    expect(f.counters.usage(a, 'api_requests', 'day')).toBe(u(1));
  });

  it('several instances: each misses only the others’ usage since its last read (the documented bound)', async () => {
    const t = { now: noon };
    const aggregated = new Map<string, number>();
    const instance = () =>
      createQuotaCounters({
        now: () => t.now,
        refreshMs: 10_000,
        load: (orgId, at) => {
          const b = periodBounds('day', at);
          return Promise.resolve([
            {
              meter: 'api_requests',
              period: 'day' as const,
              limit: 100,
              enforcement: 'hard' as const,
              aggregation: 'count' as const,
              usage: u(aggregated.get(orgId) ?? 0),
              periodStart: b.start,
              periodEnd: b.end,
            },
          ]);
        },
      });
    const a = instance();
    const b = instance();
    const org = randomUUID();
    await a.ready(org);
    await b.ready(org);
    let allowed = 0;
    for (let i = 0; i < 80; i++) if (!a.tryConsume(org, 'api_requests', u(1))) allowed++;
    for (let i = 0; i < 80; i++) if (!b.tryConsume(org, 'api_requests', u(1))) allowed++;
    // Over the limit by what the other instance let through since the last read, never more.
    expect(allowed).toBe(160);
    aggregated.set(org, 160); // flushed and aggregated
    t.now += 10_000;
    void a.ready(org);
    void b.ready(org);
    await new Promise((r) => setTimeout(r, 0));
    expect(a.tryConsume(org, 'api_requests', u(1))).toMatchObject({ usage: 160, limit: 100 });
    expect(b.tryConsume(org, 'api_requests', u(1))).toMatchObject({ usage: 160, limit: 100 });
  });
});
