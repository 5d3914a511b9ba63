import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { platformCacheKey, tenantCacheKey } from '../tenancy/cache-keys.js';
import type { Cache } from './cache.js';
import { createCache } from './create-cache.js';
import { createMemoryCache } from './memory-cache.js';
import { createRedisCache } from './redis-cache.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Random per run, so concurrent or repeated runs never see each other's keys. */
const RUN_PREFIX = `sr-test:${randomUUID()}:`;

const factories: { name: string; create: () => Cache }[] = [
  { name: 'memory', create: () => createMemoryCache() },
  { name: 'redis', create: () => createRedisCache({ url: REDIS_URL, keyPrefix: RUN_PREFIX }) },
];

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe.each(factories)('Cache contract: $name', ({ name, create }) => {
  let cache: Cache;
  /** A fresh tenant per test, so tests never share keys. */
  const key = (...parts: string[]) => tenantCacheKey(randomUUID(), 'test', ...parts);

  beforeAll(() => {
    cache = create();
  });
  afterAll(async () => {
    await cache.close();
  });

  it('reports its kind', () => {
    expect(cache.kind).toBe(name);
  });

  it('gets, sets, overwrites and deletes', async () => {
    const k = key('a');
    expect(await cache.get(k)).toBeUndefined();
    await cache.set(k, { n: 1 }, 10_000);
    expect(await cache.get(k)).toEqual({ n: 1 });
    await cache.set(k, 'two', 10_000);
    expect(await cache.get(k)).toBe('two');
    await cache.delete(k);
    expect(await cache.get(k)).toBeUndefined();
    await cache.delete(k); // deleting an absent key is fine
  });

  it('stores falsy JSON values (0, false, null, "")', async () => {
    for (const v of [0, false, null, '']) {
      const k = key();
      await cache.set(k, v, 10_000);
      expect(await cache.get(k)).toBe(v);
    }
  });

  it('expires entries after their TTL', async () => {
    const short = key('short');
    const long = key('long');
    await cache.set(short, 'x', 50);
    await cache.set(long, 'y', 10_000);
    expect(await cache.get(short)).toBe('x');
    await sleep(120);
    expect(await cache.get(short)).toBeUndefined();
    expect(await cache.get(long)).toBe('y');
  });

  it('rejects a non-positive or non-finite TTL', async () => {
    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(cache.set(key(), 1, ttl)).rejects.toThrow(RangeError);
      await expect(cache.getOrLoad(key(), ttl, () => Promise.resolve(1))).rejects.toThrow(RangeError);
    }
  });

  it('JSON-copies values: callers never share mutable objects', async () => {
    const k = key('obj');
    const original = { list: [1, 2], when: new Date(0), gone: undefined as unknown };
    await cache.set(k, original, 10_000);
    original.list.push(3);
    const first = await cache.get<{ list: number[]; when: unknown }>(k);
    const second = await cache.get<{ list: number[] }>(k);
    expect(first).toEqual({ list: [1, 2], when: '1970-01-01T00:00:00.000Z' });
    expect(first).not.toHaveProperty('gone');
    first!.list.push(99);
    expect(second!.list).toEqual([1, 2]);
    expect(first).not.toBe(second);
  });

  it('treats setting undefined as a delete', async () => {
    const k = key();
    await cache.set(k, 1, 10_000);
    await cache.set(k, undefined, 10_000);
    expect(await cache.get(k)).toBeUndefined();
  });

  it('getOrLoad runs one load for 20 concurrent callers, then serves from cache', async () => {
    const k = key('sf');
    let calls = 0;
    const gate = deferred<{ v: number }>();
    const loader = () => {
      calls++;
      return gate.promise;
    };
    const pending = Array.from({ length: 20 }, () => cache.getOrLoad(k, 10_000, loader));
    await sleep(20);
    gate.resolve({ v: 7 });
    const results = await Promise.all(pending);
    expect(calls).toBe(1);
    for (const r of results) expect(r).toEqual({ v: 7 });
    expect(new Set(results).size).toBe(20); // each caller gets its own copy
    expect(await cache.getOrLoad(k, 10_000, loader)).toEqual({ v: 7 });
    expect(calls).toBe(1);
    expect(await cache.get(k)).toEqual({ v: 7 });
  });

  it('getOrLoad does not cache a rejected load', async () => {
    const k = key('fail');
    let calls = 0;
    const failing = async (): Promise<number> => {
      calls++;
      await sleep(10);
      throw new Error('boom');
    };
    const all = await Promise.allSettled(
      Array.from({ length: 5 }, () => cache.getOrLoad(k, 10_000, failing)),
    );
    expect(all.every((r) => r.status === 'rejected')).toBe(true);
    expect(calls).toBe(1);
    expect(await cache.get(k)).toBeUndefined();
    expect(await cache.getOrLoad(k, 10_000, () => Promise.resolve('ok'))).toBe('ok');
    expect(await cache.get(k)).toBe('ok');
  });

  it('getOrLoad does not cache undefined', async () => {
    const k = key('undef');
    let calls = 0;
    const loader = () => {
      calls++;
      return Promise.resolve(undefined);
    };
    expect(await cache.getOrLoad(k, 10_000, loader)).toBeUndefined();
    expect(await cache.getOrLoad(k, 10_000, loader)).toBeUndefined();
    expect(calls).toBe(2);
  });

  it('a delete during a load keeps the stale result out of the cache', async () => {
    const k = key('race');
    const gate = deferred<string>();
    const pending = cache.getOrLoad(k, 10_000, () => gate.promise);
    await sleep(20);
    await cache.delete(k);
    gate.resolve('stale');
    expect(await pending).toBe('stale');
    expect(await cache.get(k)).toBeUndefined();
  });

  it('keys of tenant A are invisible under tenant B', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    await cache.set(tenantCacheKey(a, 'projects', 'p1'), 'secret-of-a', 10_000);
    expect(await cache.get(tenantCacheKey(b, 'projects', 'p1'))).toBeUndefined();
    expect(await cache.get(platformCacheKey('projects', 'p1'))).toBeUndefined();
    expect(
      await cache.getOrLoad(tenantCacheKey(b, 'projects', 'p1'), 10_000, () => Promise.resolve('b')),
    ).toBe('b');
    expect(await cache.get(tenantCacheKey(a, 'projects', 'p1'))).toBe('secret-of-a');
  });

  it('rejects every call after close', async () => {
    const other = create();
    await other.set(key(), 1, 10_000);
    await other.close();
    await other.close(); // idempotent
    await expect(other.get(key())).rejects.toThrow(/closed/);
    await expect(other.set(key(), 1, 1000)).rejects.toThrow(/closed/);
  });
});

describe('Redis cache specifics', () => {
  it('applies keyPrefix to the stored key and sets a PX expiry', async () => {
    const cache = createRedisCache({ url: REDIS_URL, keyPrefix: RUN_PREFIX });
    const raw = new Redis(REDIS_URL);
    try {
      const k = tenantCacheKey(randomUUID(), 'test', 'prefixed');
      await cache.set(k, { a: 1 }, 10_000);
      expect(await raw.get(RUN_PREFIX + k)).toBe('{"a":1}');
      const ttl = await raw.pttl(RUN_PREFIX + k);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(10_000);
      await cache.delete(k);
      expect(await raw.exists(RUN_PREFIX + k)).toBe(0);
    } finally {
      await cache.close();
      await raw.quit();
    }
  });

  it('an unreachable Redis rejects promptly instead of hanging or crashing', async () => {
    const errors: Error[] = [];
    const cache = createRedisCache({ url: 'redis://127.0.0.1:1', onError: (e) => errors.push(e) });
    const started = Date.now();
    try {
      const k = tenantCacheKey(randomUUID(), 'test');
      await expect(cache.get(k)).rejects.toThrow();
      await expect(cache.getOrLoad(k, 1000, () => Promise.resolve(1))).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(errors.length).toBeGreaterThan(0);
    } finally {
      await cache.close();
    }
  });
});

describe('createCache', () => {
  it('selects Redis when a URL is given, else memory', async () => {
    const memory = createCache({});
    const redis = createCache({ redisUrl: REDIS_URL });
    expect(memory.kind).toBe('memory');
    expect(redis.kind).toBe('redis');
    await Promise.all([memory.close(), redis.close()]);
  });
});
