import { describe, expect, it } from 'vitest';
import { platformCacheKey, tenantCacheKey } from '../tenancy/cache-keys.js';
import { createSingleFlightCache } from './single-flight.js';

const ORG = '0190aaaa-0000-7000-8000-000000000001';

describe('single-flight cache', () => {
  it('shares one load among concurrent callers and serves hits synchronously', async () => {
    const cache = createSingleFlightCache<{ v: number }>({ max: 10, ttlMs: 60_000 });
    let loads = 0;
    const load = async () => ({ v: ++loads });
    const key = platformCacheKey('t', 'a');
    const [a, b] = await Promise.all([cache.get(key, load), cache.get(key, load)]);
    expect(a).toBe(b);
    expect(loads).toBe(1);
    expect(cache.get(key, load)).toEqual({ v: 1 }); // not a promise
  });

  it('a load overtaken by an invalidation does not store its stale result', async () => {
    const cache = createSingleFlightCache<{ v: string }>({ max: 10, ttlMs: 60_000 });
    const key = tenantCacheKey(ORG, 'thing', 'x');
    let release!: () => void;
    const slow = cache.get(key, () => new Promise((r) => (release = () => r({ v: 'stale' }))));
    cache.drop(key);
    const fresh = cache.get(key, async () => ({ v: 'fresh' }));
    release();
    expect(await slow).toEqual({ v: 'stale' });
    expect(await fresh).toEqual({ v: 'fresh' });
    expect(cache.get(key, async () => ({ v: 'other' }))).toEqual({ v: 'fresh' });
  });

  it('never stores null or what `store` refuses; dropWhere and clear drop matching keys', async () => {
    const cache = createSingleFlightCache<{ ok: boolean }>({ max: 10, ttlMs: 60_000, store: (v) => v.ok });
    const k1 = tenantCacheKey(ORG, 'a', '1');
    const k2 = platformCacheKey('b', '2');
    expect(await cache.get(k1, async () => null)).toBeNull();
    expect(await cache.get(k1, async () => ({ ok: false }))).toEqual({ ok: false });
    expect(cache.get(k1, async () => ({ ok: true }))).toBeInstanceOf(Promise);
    await cache.get(k2, async () => ({ ok: true }));
    cache.dropWhere((k) => k === k1);
    expect(cache.get(k1, async () => ({ ok: true }))).toBeInstanceOf(Promise);
    expect(cache.get(k2, async () => ({ ok: false }))).toEqual({ ok: true });
    cache.clear();
    expect(cache.get(k2, async () => ({ ok: true }))).toBeInstanceOf(Promise);
  });
});
