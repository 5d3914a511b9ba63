import { describe, expect, it } from 'vitest';
import { AuthError } from './auth.errors.js';
import { createThrottle } from './throttle.js';

describe('throttle', () => {
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

  it('refuses keys of an unknown kind', () => {
    expect(() => createThrottle('test.throttle', rules).acquire([{ kind: 'nope', value: 'x' }])).toThrow(
      TypeError,
    );
  });
});
