/**
 * Hostile review of the login throttle (src/modules/auth/throttle.ts, login.ts, password-reset.ts): 5
 * failures per account from one client address (an IPv6 address counted by its /64), 100 per account from
 * all addresses together, 20 per client address, per 15 minutes. A stranger who knows only the victim's
 * e-mail address and holds a few addresses (twenty IPv4 addresses, or any IPv6 /59: 32 /64 networks, where
 * an ordinary subscriber gets a /56) still spends the account-wide budget, and the owner is then refused
 * everywhere, from their own usual address too, for 15 minutes, again after every new round of 100 cheap
 * requests. The first two tests named that weakness (now fixed: a browser that signed in to the account
 * before holds a device cookie and is held to its own budget; a signed-in password change counts per
 * user); the others pin what was checked and held.
 */
import { describe, expect, it } from 'vitest';
import { logIn, ORIGIN, signUp, startAppAround, type E2eApp } from './helpers.js';

let c: E2eApp;
startAppAround((started) => (c = started));

/** A public auth request from a browser on the console's origin, from client address `ip`. */
const post = (url: string, body: object, ip: string, cookie?: string) =>
  c.app.inject({
    method: 'POST',
    url,
    payload: body,
    remoteAddress: ip,
    headers: { origin: ORIGIN, ...(cookie ? { cookie } : {}) },
  });

/** The `sr_device=…` pair a sign-in answer sets (the browser keeps it for the sign-in route). */
function deviceCookieOf(res: { headers: Record<string, unknown> }): string {
  const lines = [res.headers['set-cookie']].flat() as string[];
  const pair = lines.map((l) => /^(sr_device=[^;]+)/.exec(l)?.[1]).find(Boolean);
  if (!pair) throw new Error('no device cookie set');
  return pair;
}

/** One wrong guess per request, five per /64 (the per-address budget), from `networks` IPv6 /64s. */
async function guessFromNetworks(email: string, networks: number): Promise<void> {
  for (let n = 0; n < networks; n++) {
    for (let i = 0; i < 5; i++) {
      // Another interface id every time: the throttle rightly counts them as one /64.
      const ip = `2001:db8:${(0x100 + n).toString(16)}:0:${i + 1}::1`;
      const res = await post('/v1/auth/login', { email, password: `guess ${n}.${i}` }, ip);
      expect(res.statusCode, res.body).toBe(401);
    }
  }
}

describe('review5: login throttle', () => {
  it('a stranger with twenty IPv6 /64s does not lock the owner out of password sign-in from their own browser', async () => {
    const victim = await signUp(c, 'total-lockout');
    const credentials = { email: victim.email, password: victim.password };
    // The owner signed in from this browser before: it holds the account's device cookie.
    const before = await post('/v1/auth/login', credentials, '198.51.100.20');
    expect(before.statusCode, before.body).toBe(200);
    const device = deviceCookieOf(before);
    // 20 networks x 5 guesses = the account-wide budget of 100, each network within its own budgets.
    await guessFromNetworks(victim.email, 20);
    // The owner, from the address and browser they always use, with the right password. Before the fix: 429
    // AUTH_THROTTLED (Retry-After about 900 s), the `accountTotal` rule refusing before the password is
    // even checked; the device cookie holds the attempt to that browser's own budget instead.
    const owner = await post('/v1/auth/login', credentials, '198.51.100.20', device);
    expect(owner.statusCode, owner.body).toBe(200);
    // A browser that never signed in to the account is still held to the account-wide budget.
    const fresh = await post('/v1/auth/login', credentials, '198.51.100.21');
    expect(fresh.statusCode, fresh.body).toBe(429);
  });

  it("the same stranger's guesses do not stop the signed-in owner from changing their password", async () => {
    const victim = await signUp(c, 'total-lockout-change');
    await guessFromNetworks(victim.email, 20);
    // The owner is signed in (the session from sign-up) and knows the current password. Before the fix: 429,
    // the wrong guesses of strangers counted against the owner's own, proven, session.
    const res = await victim.browser.req('POST', '/v1/auth/password', {
      currentPassword: victim.password,
      newPassword: `${victim.password}-new`,
    });
    // 204: changed (the route answers no body).
    expect(res.statusCode, res.body).toBe(204);
  });

  it('guesses from one /64 with changing interface ids share one budget; the owner elsewhere is not refused', async () => {
    const victim = await signUp(c, 'one-64');
    for (let i = 0; i < 5; i++) {
      const res = await post(
        '/v1/auth/login',
        { email: victim.email, password: `g${i}` },
        `2001:db8:77:1::${i + 1}`,
      );
      expect(res.statusCode, res.body).toBe(401);
    }
    const sixth = await post(
      '/v1/auth/login',
      { email: victim.email, password: 'g6' },
      '2001:db8:77:1:ffff::9',
    );
    expect(sixth.statusCode, sixth.body).toBe(429);
    // The same /64 written another way (uppercase, zone id, fully expanded) is the same key.
    const expanded = await post(
      '/v1/auth/login',
      { email: victim.email.toUpperCase(), password: 'g7' },
      '2001:0DB8:0077:0001:0000:0000:0000:0042',
    );
    expect(expanded.statusCode, expanded.body).toBe(429);
    await logIn(c, victim.email, victim.password);
  });

  it('parallel guesses from one address get no more than the five the budget allows', async () => {
    const victim = await signUp(c, 'parallel');
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        post('/v1/auth/login', { email: victim.email, password: `p${i}` }, '192.0.2.77'),
      ),
    );
    const codes = answers.map((r) => r.statusCode).sort();
    expect(codes.filter((s) => s === 401)).toHaveLength(5);
    expect(codes.filter((s) => s === 429)).toHaveLength(7);
  });

  it('a client cannot choose its address with X-Forwarded-For when no proxy is trusted', async () => {
    const victim = await signUp(c, 'xff');
    for (let i = 0; i < 5; i++) {
      const res = await c.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { email: victim.email, password: `x${i}` },
        remoteAddress: '192.0.2.99',
        headers: { origin: ORIGIN, 'x-forwarded-for': `203.0.113.${i + 1}` },
      });
      expect(res.statusCode, res.body).toBe(401);
    }
    const more = await c.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: victim.email, password: 'x6' },
      remoteAddress: '192.0.2.99',
      headers: { origin: ORIGIN, 'x-forwarded-for': '203.0.113.200' },
    });
    expect(more.statusCode, more.body).toBe(429);
  });
});
