import { isIPv4, isIPv6 } from 'node:net';
import { LRUCache } from 'lru-cache';
import { platformCacheKey, type CacheKey } from '../../platform/tenancy/cache-keys.js';
import { throttled } from './auth.errors.js';

/** A fixed-window counter per key: `limit` attempts within `windowMs`, then 429 until it ends. */
export interface ThrottleRule {
  readonly limit: number;
  readonly windowMs: number;
}

export interface Throttle {
  /**
   * Throws AUTH_THROTTLED (with Retry-After seconds) when any key has used up its budget; otherwise
   * counts one attempt against every key at once. Check and count are one synchronous step, so parallel
   * requests cannot all slip through before the first failure is recorded.
   */
  acquire(keys: readonly ThrottleKey[]): void;
  /**
   * Gives back an attempt that turned out not to be a failure (a successful login). A counter given back
   * to 0 is dropped: only failures keep a counter alive, so successes never grow a store.
   */
  release(keys: readonly ThrottleKey[]): void;
  /** Forgets a key's attempts (a successful login clears its account's counter). */
  reset(key: ThrottleKey): void;
  /** How many counters each store holds (expired ones not yet dropped included). */
  size(): { held: number; evictable: number };
}

export interface ThrottleKey {
  /** Which rule applies (`account`, `ip`, …). */
  readonly kind: string;
  readonly value: string;
  /**
   * Counted in the store that other keys cannot evict (see {@link createThrottle}). Set ONLY on keys of
   * an account that exists (or of a device proven for one), so that store is bounded by the accounts;
   * never on a key an unauthenticated caller can mint at will (an address, an unknown account).
   */
  readonly held?: boolean;
}

/** The eight 16-bit groups of a valid IPv6 address (a trailing dotted IPv4 part included), or null. */
function ipv6Groups(address: string): number[] | null {
  // A trailing dotted IPv4 part becomes its two hex groups.
  const text = address.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) =>
    [((Number(a) << 8) | Number(b)).toString(16), ((Number(c) << 8) | Number(d)).toString(16)].join(':'),
  );
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const fill = 8 - head.length - rest.length;
  if (halves.length === 2 ? fill < 0 : fill !== 0) return null;
  const groups = [...head, ...Array<number>(fill).fill(0), ...rest];
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

/**
 * The key every per-client-address throttle counts under: an IPv4 address as is; an IPv4-mapped IPv6
 * address (`::ffff:a.b.c.d`, what a dual-stack socket reports) as that IPv4 address; any other IPv6
 * address as its /64 network (`2001:db8:1:2::/64`), since one subscriber usually holds a whole /64 and
 * could otherwise rotate through 2^64 addresses, each with a fresh budget. Anything else as given.
 */
export function clientAddressKey(ip: string): string {
  const address = ip.trim().toLowerCase().replace(/%.*$/, '');
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return ip;
  const g = ipv6Groups(address);
  if (!g) return ip;
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`;
  }
  return `${g
    .slice(0, 4)
    .map((x) => x.toString(16))
    .join(':')}::/64`;
}

/** The throttle key (rule `ip`) of a client address: see {@link clientAddressKey}. */
export const clientAddress = (ip: string): ThrottleKey => ({ kind: 'ip', value: clientAddressKey(ip) });

/** A counter and the end of its window (`performance.now()` milliseconds). */
interface Counter {
  n: number;
  until: number;
}

/** How often the held store drops its expired counters. */
const PURGE_EVERY_MS = 60_000;

/**
 * In-process failure counters (keys built by `platformCacheKey`, since accounts and addresses are not
 * tenant data). A window starts at the first failure and is not extended by later ones, so `Retry-After`
 * is exact. Per process: with N instances an attacker gets N× the budget, still bounded.
 *
 * Two stores, so a flood cannot buy a spent account its budget back: keys marked `held` (an account that
 * exists, a device proven for one: see {@link ThrottleKey.held}) live in a Map that nothing evicts, whose
 * expired counters are dropped at most once a minute, bounded by the number of accounts (each account has
 * a bounded number of keys alive per window: only failures keep a counter, since a success gives its
 * attempt back and a counter back at 0 is dropped, and its account-wide rules stop failures after 100
 * without a device cookie and 50 with one); every other key
 * (client addresses, addresses nobody has an account at, each of which an attacker can mint at will) lives
 * in an LRU capped at `max` entries (100,000 by default), where a flood only evicts keys of its own kind.
 * Where a counter is stored is all that differs: a key counts and refuses the same in either store.
 * What remains observable: after a flood of about 100,000 keys, a spent counter of an address without an
 * account may be gone while an account's is not, so a flood (some 50,000 requests, each with a dummy
 * argon2 check) tells which of the addresses whose budget was spent just before have an account.
 */
export function createThrottle(
  namespace: string,
  rules: Readonly<Record<string, ThrottleRule>>,
  opts: { max?: number } = {},
): Throttle {
  const evictable = new LRUCache<CacheKey, Counter>({ max: opts.max ?? 100_000 });
  const held = new Map<CacheKey, Counter>();
  let purgedAt = performance.now();
  const keyOf = (k: ThrottleKey) => platformCacheKey(namespace, k.kind, k.value);
  const rule = (k: ThrottleKey) => {
    const r = rules[k.kind];
    if (!r) throw new TypeError(`no throttle rule for ${k.kind}`);
    return r;
  };
  const store = (k: ThrottleKey) => (k.held ? held : evictable);
  /** The live counter of a key (an expired one is dropped). */
  const counter = (k: ThrottleKey, now: number): Counter | undefined => {
    const s = store(k);
    const key = keyOf(k);
    const entry = s.get(key);
    if (entry && entry.until <= now) {
      s.delete(key);
      return undefined;
    }
    return entry;
  };
  const purge = (now: number) => {
    if (now - purgedAt < PURGE_EVERY_MS) return;
    purgedAt = now;
    for (const [key, entry] of held) if (entry.until <= now) held.delete(key);
  };
  return {
    acquire(keys) {
      const now = performance.now();
      purge(now);
      let wait = 0;
      for (const k of keys) {
        const entry = counter(k, now);
        if (entry && entry.n >= rule(k).limit) wait = Math.max(wait, entry.until - now);
      }
      if (wait > 0) throw throttled(Math.max(1, Math.ceil(wait / 1000)));
      for (const k of keys) {
        const entry = counter(k, now);
        if (entry) entry.n++;
        else store(k).set(keyOf(k), { n: 1, until: now + rule(k).windowMs });
      }
    },
    release(keys) {
      const now = performance.now();
      for (const k of keys) {
        const entry = counter(k, now);
        if (!entry) continue;
        entry.n -= 1;
        if (entry.n <= 0) store(k).delete(keyOf(k));
      }
    },
    reset(k) {
      store(k).delete(keyOf(k));
    },
    size: () => ({ held: held.size, evictable: evictable.size }),
  };
}

/**
 * Login throttling defaults, per 15 minutes: 5 failures per account FROM ONE CLIENT ADDRESS (rule
 * `account`, keyed by account and {@link clientAddressKey}: a stranger's wrong guesses from their own
 * address do not lock the owner out of signing in from theirs), 100 failures per account from all
 * addresses together (rule `accountTotal`, against guessing spread over many addresses), and 20 per
 * client address whatever the account (rule `ip`).
 *
 * A sign-in presenting a valid device cookie of the account (device-cookie.ts) is not held to
 * `accountTotal`, which strangers can spend, but to 5 failures per device (rule `device`: a stolen cookie
 * gives no unlimited guesses) and 50 per account across all of its devices (rule `accountDevices`, which
 * only holders of the account's device cookies can spend), nor to `account`, which anyone behind the
 * owner's (shared, NAT) address can spend: the device's own budget replaces it. `ip` still applies.
 *
 * A signed-in user's password checks (a password change) count 5 failures per user (rule `user`): only
 * the session's holder spends it, so strangers' failures never refuse the owner's change.
 */
export const LOGIN_THROTTLE_RULES = {
  account: { limit: 5, windowMs: 15 * 60_000 },
  accountTotal: { limit: 100, windowMs: 15 * 60_000 },
  device: { limit: 5, windowMs: 15 * 60_000 },
  accountDevices: { limit: 50, windowMs: 15 * 60_000 },
  user: { limit: 5, windowMs: 15 * 60_000 },
  ip: { limit: 20, windowMs: 15 * 60_000 },
} as const satisfies Record<string, ThrottleRule>;

/** The throttle keys of a password (or other credential) check of one account from one client address. */
export interface AccountAttemptKeys {
  /** Rule `account`: this account from this client address (an IPv6 address's /64). */
  readonly fromAddress: ThrottleKey;
  /** Rule `accountTotal`: this account from every address. */
  readonly total: ThrottleKey;
}

/**
 * The keys a credential check of `account` (a normalized address or a user id) from client address `ip`
 * counts under (see LOGIN_THROTTLE_RULES). Acquire both before checking; after a success reset
 * `fromAddress` and release `total` (a success gives back its own attempt, never the account-wide count of
 * others' failures). `exists`: whether an account has this address or id; its keys are then `held`, out
 * of a flood's reach (see {@link createThrottle}). Only where the counters live differs, never the answer.
 */
export function accountAttemptKeys(
  account: string,
  ip: string,
  opts: { exists: boolean },
): AccountAttemptKeys {
  const held = opts.exists ? { held: true } : {};
  return {
    fromAddress: { kind: 'account', value: `${account} ${clientAddressKey(ip)}`, ...held },
    total: { kind: 'accountTotal', value: account, ...held },
  };
}

/** The throttle keys of a sign-in attempt from a device proven for the account (see LOGIN_THROTTLE_RULES). */
export interface DeviceAttemptKeys {
  /** Rule `device`: this device of this account. */
  readonly device: ThrottleKey;
  /** Rule `accountDevices`: every proven device of this account. */
  readonly allDevices: ThrottleKey;
}

/** The keys of a sign-in attempt from device `deviceId`, proven for (existing) user `userId`. */
export const deviceAttemptKeys = (userId: string, deviceId: string): DeviceAttemptKeys => ({
  device: { kind: 'device', value: `${userId} ${deviceId}`, held: true },
  allDevices: { kind: 'accountDevices', value: userId, held: true },
});

/** The key (rule `user`) of a signed-in user's password check (a password change). */
export const signedInAttemptKey = (userId: string): ThrottleKey => ({
  kind: 'user',
  value: userId,
  held: true,
});

/** Mail-sending requests: 3 per account and 20 per address per 15 minutes. */
export const MAIL_THROTTLE_RULES = {
  account: { limit: 3, windowMs: 15 * 60_000 },
  ip: { limit: 20, windowMs: 15 * 60_000 },
} as const satisfies Record<string, ThrottleRule>;

/**
 * Account creation (sign-up, register-and-accept of an invitation): 20 per client address per hour,
 * every attempt counted, successful or not.
 */
export const SIGNUP_THROTTLE_RULES = {
  ip: { limit: 20, windowMs: 60 * 60_000 },
} as const satisfies Record<string, ThrottleRule>;

/** The kinds of mail to an address the caller chose; each kind has its own budget per address. */
export type RecipientMailKind = 'signup' | 'verification' | 'reset' | 'invitation';

/**
 * Mails to an address the caller chose, per address per hour and per KIND, so no kind can spend
 * another's (five sign-up attempts at someone's address must not block their password reset):
 * `signup` (the verification mail of a sign-up, or "someone tried to sign up"), `verification`
 * (resends), `reset`, each 5, counted before anyone looks the address up, so the answer is the same
 * whether it has an account or not; `invitation` 10, across every organization (each organization is
 * also held to 3 per address per hour by the invitations module).
 */
export const RECIPIENT_THROTTLE_RULES = {
  signup: { limit: 5, windowMs: 60 * 60_000 },
  verification: { limit: 5, windowMs: 60 * 60_000 },
  reset: { limit: 5, windowMs: 60 * 60_000 },
  invitation: { limit: 10, windowMs: 60 * 60_000 },
} as const satisfies Record<RecipientMailKind, ThrottleRule>;

/** The recipient-throttle key of one mail kind to one (normalized) address. */
export const recipientKey = (kind: RecipientMailKind, normalizedAddress: string): ThrottleKey => ({
  kind,
  value: normalizedAddress,
});
