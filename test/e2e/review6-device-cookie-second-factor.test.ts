/**
 * Hostile review of device cookies (src/modules/auth/device-cookie.ts, login.ts): a sign-in attempt
 * presenting a valid `sr_device` of the account spends the device's budget (rule `device`, 5) and the
 * budget of all the account's devices (rule `accountDevices`, 50) instead of the account-wide one that
 * strangers can spend. The cookie is issued when the PASSWORD is right, before any second factor
 * (login.ts: `devices.issue` before the `totp_enabled_at` branch). So for an account with two-factor on,
 * someone who knows only the password (a leaked or reused one: exactly what the second factor is there
 * for) mints as many device cookies as they like, spends `accountDevices` with them, and the owner's own
 * browser, whose cookie is genuine, is refused: the exemption device cookies bring is lost for the
 * accounts a second factor protects, against the one attacker who can reach their sign-in at all.
 */
import { describe, expect, it } from 'vitest';
import { enrollTotp, ORIGIN, signUp, startAppAround, type E2eApp } from './helpers.js';

let c: E2eApp;
startAppAround((started) => (c = started));

const post = (url: string, body: object, ip: string, cookie?: string) =>
  c.app.inject({
    method: 'POST',
    url,
    payload: body,
    remoteAddress: ip,
    headers: { origin: ORIGIN, ...(cookie ? { cookie } : {}) },
  });

/** The `name=value` pair an answer sets, or null. */
function setCookie(res: { headers: Record<string, unknown> }, name: string): string | null {
  const lines = [res.headers['set-cookie'] ?? []].flat() as string[];
  return lines.map((l) => new RegExp(`^(${name}=[^;]+)`).exec(l)?.[1]).find(Boolean) ?? null;
}

/** An address of IPv6 /64 number `n` (each /64 has budgets of its own). */
const net = (n: number, host = 1) => `2001:db8:${(0x600 + n).toString(16)}:0:${host}::1`;

describe('review6: device cookies and the second factor', () => {
  it("someone who knows only the password of a two-factor account does not lock out the owner's usual browser", async () => {
    const victim = await signUp(c, 'device-2fa');
    const { recoveryCodes } = await enrollTotp(victim.browser);
    const credentials = { email: victim.email, password: victim.password };
    const home = '198.51.100.60';

    // The owner signs in fully (password, then a second factor) in the browser they always use.
    const first = await post('/v1/auth/login', credentials, home);
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toEqual({ twoFactorRequired: true });
    const session = setCookie(first, 'sr_session');
    expect(session).not.toBeNull();
    const second = await post('/v1/auth/two-factor/verify', { code: recoveryCodes[0] }, home, session!);
    expect(second.statusCode, second.body).toBe(200);
    // Fixed by issuing it once the second factor is proven, for the password route's path.
    expect(setCookie(first, 'sr_device')).toBeNull();
    const line = ([second.headers['set-cookie']].flat() as string[]).find((l) => l.startsWith('sr_device='));
    expect(line).toMatch(/; Path=\/v1\/auth\/login(;|$)/);
    // Wherever the fix issues it (at the password or once the second factor is proven).
    const ownerDevice = setCookie(second, 'sr_device') ?? setCookie(first, 'sr_device');
    expect(ownerDevice).not.toBeNull();

    // The stranger has the password only: each sign-in stops at the second factor (no session they can
    // use), yet on main each one hands out a device cookie of the account.
    const minted: string[] = [];
    for (let n = 0; n < 10; n++) {
      const res = await post('/v1/auth/login', credentials, net(n));
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({ twoFactorRequired: true });
      const device = setCookie(res, 'sr_device');
      if (device) minted.push(device);
    }
    // Five wrong guesses with each minted cookie (its own /64: within every per-address budget): 50, the
    // whole `accountDevices` budget.
    for (const [i, device] of minted.entries()) {
      for (let g = 0; g < 5; g++) {
        const res = await post(
          '/v1/auth/login',
          { ...credentials, password: `wrong ${i}.${g}` },
          net(i, g + 2),
          device,
        );
        expect(res.statusCode, res.body).toBe(401);
      }
    }

    // The owner, at home, in their usual browser, with the right password. On main: 429 AUTH_THROTTLED
    // (`accountDevices` spent by the stranger's minted cookies). A cookie issued only once the second
    // factor is proven leaves the stranger none, and the owner's browser signs in.
    const owner = await post('/v1/auth/login', credentials, home, ownerDevice!);
    expect(owner.statusCode, owner.body).toBe(200);
    expect(owner.json()).toEqual({ twoFactorRequired: true });
  });
});
