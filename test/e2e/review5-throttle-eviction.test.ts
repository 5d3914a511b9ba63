/**
 * Hostile review of the login throttle's memory (src/modules/auth/throttle.ts `createThrottle`): the
 * counters lived in an LRU of at most 100,000 keys, and every login attempt for an address nobody has an
 * account at added two new keys (the account from this address, the account from all addresses) before any
 * password is checked. Once an account's budget is spent, attempts at fresh addresses from other networks
 * push its counters out of the LRU (they are only touched when the account is tried again), and the
 * account had its whole budget again: the 100-per-15-minutes bound held only while nobody flooded.
 * Shown on the throttle itself (through HTTP the flood is about 50,000 requests of a dummy argon2 check
 * each: costly, but well within a botnet's reach in the 15-minute window). Fixed: counters of existing
 * accounts are held in a store nothing evicts (`held` keys), the rest stay in the LRU.
 */
import { describe, expect, it } from 'vitest';
import {
  accountAttemptKeys,
  clientAddress,
  createThrottle,
  LOGIN_THROTTLE_RULES,
} from '../../src/modules/auth/throttle.js';

describe('review5: login throttle eviction', () => {
  it("an account's spent budget stays spent while others flood the throttle with new keys", () => {
    const throttle = createThrottle('auth.login', LOGIN_THROTTLE_RULES);
    const victim = 'victim@e2e.example.com';
    // 100 wrong guesses from 20 networks: the account-wide budget is spent.
    for (let n = 0; n < 20; n++) {
      for (let i = 0; i < 5; i++) {
        const ip = `2001:db8:${n.toString(16)}::${i + 1}`;
        const k = accountAttemptKeys(victim, ip, { exists: true });
        throttle.acquire([k.fromAddress, k.total, clientAddress(ip)]);
      }
    }
    const next = accountAttemptKeys(victim, '203.0.113.9', { exists: true });
    expect(() => throttle.acquire([next.fromAddress, next.total])).toThrow();
    // The flood: one attempt each at 50,000 throwaway addresses, 20 per /64 (the per-address budget).
    for (let i = 0; i < 50_000; i++) {
      const ip = `2001:db8:f${Math.floor(i / 20)
        .toString(16)
        .padStart(3, '0')}::1`;
      const k = accountAttemptKeys(`nobody-${i}@example.net`, ip, { exists: false });
      throttle.acquire([k.fromAddress, k.total, clientAddress(ip)]);
    }
    // Before the fix: no throw, the victim's counters are gone and 100 more guesses are open.
    expect(() => throttle.acquire([next.fromAddress, next.total])).toThrow();
    // The flood's own keys stay in the capped store: memory is bounded whatever the flood.
    expect(throttle.size().evictable).toBeLessThanOrEqual(100_000);
    expect(throttle.size().held).toBeLessThanOrEqual(2 * 100 + 1);
  });
});
