import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { cookiePathUnder, cookieValue, serializeCookie } from '../../platform/http/cookies.js';

/**
 * Device cookies (OWASP "device cookies" against account lockout): a complete sign-in (the password of
 * an account without a second factor, or the second factor that follows it; never the password alone)
 * leaves `sr_device` in the browser, a MAC over the account's user id, a random device id, the issue
 * time and the account's credentials generation. It proves only "this browser signed in to this account before" and grants nothing alone: the
 * password is still checked. A sign-in attempt presenting a valid one FOR THE ACCOUNT IT TARGETS is not
 * held to the failure budgets that strangers can spend (rule `accountTotal`, and rule `account` that
 * anyone behind the owner's shared address can), but to a budget of its own device instead (rules
 * `device` and `accountDevices`, see LOGIN_THROTTLE_RULES), so the owner's usual browser keeps signing in
 * while strangers flood the account, and a stolen cookie gives no unlimited guesses. Without a valid one (none, forged, of another account, expired) nothing changes.
 * A cookie is bound to the account's credentials generation (`users.credentials_changed_at`, which a
 * password change or reset, two-factor turned on or off and an address claim move): it carries, inside
 * the MAC, the value the sign-in that earned it read, and proves the device only while the account's
 * current value is that one. After a change, every cookie earned before it proves nothing, whatever its
 * issue time (no clock comparison, so no same-second ambiguity), and that browser is an unproven device
 * again until it completes a sign-in anew.
 */
export const DEVICE_COOKIE = 'sr_device';
/**
 * The only route that reads it (under the public URL's path, when the API is served under one); the
 * second-factor routes that complete a sign-in set it with this path too.
 */
export const DEVICE_COOKIE_PATH = '/v1/auth/login';
/** How long a device cookie proves the browser: 180 days from its issue (each sign-in issues it anew). */
export const DEVICE_COOKIE_TTL_SECONDS = 180 * 24 * 60 * 60;

/** The purpose bound into every MAC and into the HKDF derivation of its key. */
const PURPOSE = 'saasready.device-cookie.v1';
/**
 * `<device id: 22 base64url chars>.<issued at: seconds>.<credentials generation: the account's
 * credentials_changed_at in milliseconds>.<MAC: 43 base64url chars>`
 */
const FORMAT = /^([A-Za-z0-9_-]{22})\.(\d{1,12})\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/;

/** A device cookie that checked out for the account: its device id (the key of its own budget). */
export interface ProvenDevice {
  readonly deviceId: string;
}

export interface DeviceCookies {
  /**
   * A new cookie value for `userId` whose credentials generation is `credentialsChangedAt` (the value
   * the sign-in that earns the cookie read): the given device id (a sign-in from a proven device) or a
   * new one.
   */
  issue(userId: string, credentialsChangedAt: Date, deviceId?: string): string;
  /**
   * The device a cookie value proves for `userId` whose credentials generation is now
   * `credentialsChangedAt`, or null (absent, malformed, forged, other account, expired, or issued for
   * another generation: the credentials changed since).
   */
  verify(value: string | null | undefined, userId: string, credentialsChangedAt: Date): ProvenDevice | null;
}

/**
 * Signs and checks device cookies with HMAC-SHA256 under a key derived from the KEK by HKDF for this one
 * purpose (as export download links are: the KEK itself never signs, and a MAC made for anything else
 * never verifies as this).
 */
export function createDeviceCookies(kek: Buffer, now: () => number = Date.now): DeviceCookies {
  const key = Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), PURPOSE, 32));
  const mac = (userId: string, deviceId: string, issuedAt: string, generation: string) =>
    createHmac('sha256', key).update(`${PURPOSE}.${userId}.${deviceId}.${issuedAt}.${generation}`).digest();
  return {
    issue(userId, credentialsChangedAt, deviceId = randomBytes(16).toString('base64url')) {
      const issuedAt = String(Math.floor(now() / 1000));
      const generation = String(credentialsChangedAt.getTime());
      const sig = mac(userId, deviceId, issuedAt, generation).toString('base64url');
      return `${deviceId}.${issuedAt}.${generation}.${sig}`;
    },
    verify(value, userId, credentialsChangedAt) {
      const m = value ? FORMAT.exec(value) : null;
      if (!m) return null;
      const [, deviceId, issuedAt, generation, sig] = m as unknown as [
        string,
        string,
        string,
        string,
        string,
      ];
      const expected = mac(userId, deviceId, issuedAt, generation);
      const given = Buffer.from(sig, 'base64url');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
      const age = Math.floor(now() / 1000) - Number(issuedAt);
      // Expired, or issued in the future beyond a minute of clock skew: no proof.
      if (age >= DEVICE_COOKIE_TTL_SECONDS || age < -60) return null;
      // Issued for another credentials generation: the credentials changed since (or the cookie was
      // earned by a sign-in that read the account before a change it raced).
      if (generation !== String(credentialsChangedAt.getTime())) return null;
      return { deviceId };
    },
  };
}

/** The device cookie a request presents (`Cookie` header), unchecked. */
export const deviceCookieOf = (header: string | string[] | undefined): string | null =>
  cookieValue(header, DEVICE_COOKIE) ?? null;

/**
 * The `Set-Cookie` of a device cookie: HttpOnly, SameSite=Lax, `Secure` as the session cookie, sent only
 * to the sign-in route as the browser addresses it (`https://host/app` as PUBLIC_URL, the API behind a
 * proxy under `/app`: `/app/v1/auth/login`), kept 180 days.
 */
export const deviceCookieHeader = (value: string, opts: { secure: boolean; publicUrl: string }): string =>
  serializeCookie(DEVICE_COOKIE, value, {
    path: cookiePathUnder(opts.publicUrl, DEVICE_COOKIE_PATH),
    maxAge: DEVICE_COOKIE_TTL_SECONDS,
    httpOnly: true,
    secure: opts.secure,
    sameSite: 'Lax',
  });
