import { randomUUID } from 'node:crypto';
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { systemCtx } from '../../platform/tenancy/context.js';
import { createUsageEventsService, type IngestQuotaGate } from '../usage/usage-events.service.js';
import type { MeterDef } from '../usage/usage-model.js';
import { createQuotaCounters } from './quota-counters.js';
import { periodBounds, UNIT } from './quota-model.js';

const noon = Date.UTC(2026, 5, 10, 12);
const meter: MeterDef = {
  key: 'users',
  aggregation: 'unique_count',
  property: 'user',
  unit: 'user',
  description: '',
  archivedAt: null,
};

/**
 * Ingestion of a `unique_count` meter at its hard limit, without a database: the period holds `stored`;
 * the counters believe `believed` distinct values are used (a stale over-count), the limit is `limit`.
 * The database answers no row to any statement (every id stored now, none before).
 */
function setup(opts: { stored: string[]; believed: number; limit: number; single?: boolean }) {
  const lookups: string[][] = [];
  const periods: number[] = [];
  const counters = createQuotaCounters({
    now: () => noon,
    load: (_org, at) => {
      const b = periodBounds('day', at);
      return Promise.resolve([
        {
          meter: meter.key,
          period: 'day' as const,
          limit: opts.limit,
          enforcement: 'hard' as const,
          aggregation: 'unique_count' as const,
          usage: BigInt(opts.believed) * UNIT,
          periodStart: b.start,
          periodEnd: b.end,
        },
      ]);
    },
    lookupUnique: (_org, _meter, values, start) => {
      lookups.push([...values]);
      periods.push(start);
      return Promise.resolve({
        present: values.filter((v) => opts.stored.includes(v)),
        distinct: opts.stored.length,
      });
    },
  });
  // `single`: the rule before batching (every value not known here looked up on its own).
  const gate: IngestQuotaGate = opts.single
    ? {
        ...counters,
        tryUnique: (o, m, v, at) => counters.tryUnique(o, m, v, at),
        lookupUnique: () => Promise.resolve(new Map()),
      }
    : counters;
  // Every statement answers no row: the insert stored every id now, no id was stored before.
  const db = new Kysely<unknown>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (k) => new PostgresIntrospector(k),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  }) as unknown as TenantDb;
  const withTenant = (<T>(_t: string, fn: (d: TenantDb) => Promise<T>) => fn(db)) as WithTenant;
  const service = createUsageEventsService({
    withTenant,
    meters: { get: (k) => (k === meter.key ? meter : null), forget: () => {} },
    settings: { latenessMs: 86_400_000, futureMs: 300_000 },
    quotas: gate,
    now: () => noon,
  });
  return { service, lookups, periods };
}

const batch = (users: string[], at = noon - 1000) =>
  users.map((user, i) => ({
    id: `e${at}-${i}`,
    meter: meter.key,
    timestamp: new Date(at).toISOString(),
    properties: { user },
  }));

const outcomes = (r: { results: { status: string; error?: { code: string } }[] }) =>
  r.results.map((x) => x.error?.code ?? x.status);

describe('unique_count at the limit: one lookup per batch', () => {
  it('a batch of many new values runs ONE lookup and decides each event as the single-value rule does (room counted as accepted)', async () => {
    // Stored: a, b (2 of 3); believed: 3 (at the limit). One new value fits, then none.
    const users = Array.from({ length: 1000 }, (_, i) =>
      i % 10 === 0 ? 'a' : i % 7 === 0 ? 'b' : `n${i % 400}`,
    );
    const org = randomUUID();
    const batched = setup({ stored: ['a', 'b'], believed: 3, limit: 3 });
    const got = await batched.service.ingest(systemCtx(org, 'test'), batch(users));
    expect(batched.lookups).toHaveLength(1);
    expect(new Set(batched.lookups[0])).toEqual(new Set(users.slice(1)));

    const single = setup({ stored: ['a', 'b'], believed: 3, limit: 3, single: true });
    const before = await single.service.ingest(systemCtx(org, 'test'), batch(users));
    expect(single.lookups.length).toBeGreaterThan(100);
    expect(outcomes(got)).toEqual(outcomes(before));

    // a and b always; n1 (the first new value) and its repeats; every other new value refused.
    const expected = users.map((u) => (u === 'a' || u === 'b' || u === 'n1' ? 'accepted' : 'QUOTA_EXCEEDED'));
    expect(outcomes(got)).toEqual(expected);
  });

  it('no room at all: values the period holds are accepted, new ones refused, still one lookup', async () => {
    const users = ['x', 'a', 'y', 'b', 'x', 'z'];
    const s = setup({ stored: ['a', 'b', 'c'], believed: 3, limit: 3 });
    const got = await s.service.ingest(systemCtx(randomUUID(), 'test'), batch(users));
    expect(outcomes(got)).toEqual([
      'QUOTA_EXCEEDED',
      'accepted',
      'QUOTA_EXCEEDED',
      'accepted',
      'QUOTA_EXCEEDED',
      'QUOTA_EXCEEDED',
    ]);
    expect(s.lookups).toEqual([['x', 'a', 'y', 'b', 'z']]);
  });

  it('a late event is looked up in ITS period (one lookup per period reached), each lookup with its own period’s values', async () => {
    const s = setup({ stored: ['a'], believed: 1, limit: 1 });
    const yesterday = noon - 20 * 3_600_000;
    const events = [...batch(['a', 'x'], yesterday), ...batch(['y', 'a'])];
    const got = await s.service.ingest(systemCtx(randomUUID(), 'test'), events);
    expect(outcomes(got)).toEqual(['accepted', 'QUOTA_EXCEEDED', 'QUOTA_EXCEEDED', 'accepted']);
    expect(s.periods).toEqual([periodBounds('day', yesterday).start, periodBounds('day', noon).start]);
    expect(s.lookups).toEqual([
      ['a', 'x'],
      ['y', 'a'],
    ]);
  });
});
