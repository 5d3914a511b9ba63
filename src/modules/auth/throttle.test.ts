import { afterEach, describe, expect, it, vi } from 'vitest';
import { AuthError } from './auth.errors.js';
import { clientAddress, clientAddressKey, createThrottle } from './throttle.js';

describe('throttle', () => {
  afterEach(() => {
    vi.useRealTimers();
  });
  const rules = { account: { limit: 3, windowMs: 60_000 }, ip: { limit: 5, windowMs: 120_000 } };
  const acct = (v: string) => ({ kind: 'account', value: v });
  const ip = (v: string) => ({ kind: 'ip', value: v });
  const retryAfter = (fn: () => void) => {
    try {
      fn();
      return 0;
    } catch (err) {
      if (err instanceof AuthError && err.code === 'AUTH_THROTTLED') return err.retryAfterSeconds ?? -1;
      throw err;
    }
  };

  it('allows `limit` attempts per key, then answers with the seconds left in the window', () => {
    const t = createThrottle('test.throttle', rules);
    for (let i = 0; i < 3; i++) expect(retryAfter(() => t.acquire([acct('a'), ip('1.1.1.1')]))).toBe(0);
    const wait = retryAfter(() => t.acquire([acct('a'), ip('1.1.1.1')]));
    expect(wait).toBeGreaterThan(55);
    expect(wait).toBeLessThanOrEqual(60);
    // other keys are independent; the address still has budget for another account
    expect(retryAfter(() => t.acquire([acct('b'), ip('1.1.1.1')]))).toBe(0);
    expect(retryAfter(() => t.acquire([acct('c'), ip('1.1.1.1')]))).toBe(0);
    expect(retryAfter(() => t.acquire([acct('d'), ip('1.1.1.1')]))).toBe(120);
  });

  it('release gives an attempt back and reset forgets a key; a refused attempt counts nothing', () => {
    const t = createThrottle('test.throttle', rules);
    for (let i = 0; i < 3; i++) t.acquire([acct('a')]);
    expect(retryAfter(() => t.acquire([acct('a')]))).toBeGreaterThan(0);
    t.release([acct('a')]);
    expect(retryAfter(() => t.acquire([acct('a')]))).toBe(0);
    t.reset(acct('a'));
    for (let i = 0; i < 3; i++) expect(retryAfter(() => t.acquire([acct('a')]))).toBe(0);
  });

  it('a held key (an existing account) is not evicted by a flood of other keys; the others stay capped', () => {
    const t = createThrottle('test.throttle', rules, { max: 100 });
    const victim = { ...acct('victim'), held: true };
    for (let i = 0; i < 3; i++) t.acquire([victim]);
    expect(retryAfter(() => t.acquire([victim]))).toBeGreaterThan(0);
    for (let i = 0; i < 1000; i++) t.acquire([acct(`nobody-${i}`), ip(`198.51.100.${i % 250}`)]);
    expect(retryAfter(() => t.acquire([victim]))).toBeGreaterThan(0);
    expect(t.size()).toEqual({ held: 1, evictable: 100 });
    // An evictable counter of the same kind is flooded out: the difference the held store makes.
    const unheld = acct('unheld');
    for (let i = 0; i < 3; i++) t.acquire([unheld]);
    for (let i = 0; i < 100; i++) t.acquire([acct(`more-${i}`)]);
    expect(retryAfter(() => t.acquire([unheld]))).toBe(0);
  });

  it('held and evictable counters answer alike; expired held counters are dropped', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const t = createThrottle('test.throttle', rules);
    const held = { ...acct('a'), held: true };
    for (let i = 0; i < 3; i++) {
      t.acquire([held]);
      t.acquire([acct('a')]);
    }
    expect(retryAfter(() => t.acquire([held]))).toBe(60);
    expect(retryAfter(() => t.acquire([acct('a')]))).toBe(60);
    t.release([held]);
    expect(retryAfter(() => t.acquire([held]))).toBe(0);
    vi.advanceTimersByTime(60_000);
    expect(retryAfter(() => t.acquire([acct('a')]))).toBe(0);
    for (let i = 0; i < 50; i++) t.acquire([{ ...acct(`h${i}`), held: true }]);
    // The expired counter of `a` went at the first acquire a minute on; the new ones are live.
    expect(t.size().held).toBe(50);
    vi.advanceTimersByTime(60_001);
    t.acquire([acct('b')]);
    expect(t.size().held).toBe(0);
  });

  it('drops a counter given back to 0: only failures keep counters, in either store', () => {
    const t = createThrottle('test.throttle', rules);
    const held = { ...acct('a'), held: true };
    for (let i = 0; i < 100; i++) {
      const device = { ...acct(`device ${i}`), held: true };
      t.acquire([device, held, ip('1.1.1.1')]);
      t.release([device, held, ip('1.1.1.1')]);
    }
    expect(t.size()).toEqual({ held: 0, evictable: 0 });
    // A failure stays counted; a success after it gives back only its own attempt.
    t.acquire([held]);
    t.acquire([held]);
    t.release([held]);
    expect(t.size().held).toBe(1);
    t.acquire([held]);
    t.acquire([held]);
    expect(retryAfter(() => t.acquire([held]))).toBeGreaterThan(0);
  });

  it('refuses keys of an unknown kind', () => {
    expect(() => createThrottle('test.throttle', rules).acquire([{ kind: 'nope', value: 'x' }])).toThrow(
      TypeError,
    );
  });
});

describe('clientAddressKey', () => {
  it('keys IPv6 by its /64 and IPv4-mapped IPv6 as the IPv4 address', () => {
    expect(clientAddressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientAddressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientAddressKey('::FFFF:cb00:7107')).toBe('203.0.113.7');
    const net = '2001:db8:1:2::/64';
    expect(clientAddressKey('2001:db8:1:2::1')).toBe(net);
    expect(clientAddressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe(net);
    expect(clientAddressKey('2001:db8:1:2:a:b:c:d%eth0')).toBe(net);
    expect(clientAddressKey('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(clientAddressKey('::1')).toBe('0:0:0:0::/64');
    expect(clientAddressKey('not an address')).toBe('not an address');
  });

  it('one throttle budget for a whole /64 and for both spellings of an IPv4 client', () => {
    const t = createThrottle('test.ipkey', { ip: { limit: 2, windowMs: 60_000 } });
    t.acquire([clientAddress('2001:db8:1:2::1')]);
    t.acquire([clientAddress('2001:db8:1:2::2')]);
    expect(() => t.acquire([clientAddress('2001:db8:1:2:dead:beef::3')])).toThrow(AuthError);
    t.acquire([clientAddress('198.51.100.1')]);
    t.acquire([clientAddress('::ffff:198.51.100.1')]);
    expect(() => t.acquire([clientAddress('198.51.100.1')])).toThrow(AuthError);
  });
});
