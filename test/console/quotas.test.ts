import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { signUpPlatformAdmin } from './platform-admin-support.js';
import {
  apiAs,
  expectAccessible,
  newContext,
  newEmail,
  newPassword,
  screenshots,
  signUpVerified,
  useConsoleSuite,
  type ConsoleApp,
} from './support.js';

const seen = new Set<string>();

interface QuotaExceededBody {
  error: {
    code: string;
    message: string;
    details: { meter: string; period: string; limit: number; usage: number; resetAt: string };
  };
}

describe('console: a hard quota reached, in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('over its hard api_requests quota, a screen says which limit, when it resets, and links to Plan & billing', async () => {
    const stamp = randomBytes(4).toString('hex');
    const admin = await newContext(browser, c);
    await signUpPlatformAdmin(admin.page, c, seen);
    const planKey = `quota-${stamp}`;
    const limit = 40;
    const plan = await apiAs(admin.page, c).post('/v1/platform/plans', {
      key: planKey,
      name: `Capped ${stamp}`,
      seatLimit: 3,
      quotas: [{ meter: 'api_requests', period: 'month', limit, enforcement: 'hard' }],
      entitlements: [],
      price: { currency: 'USD', interval: 'month', components: [{ model: 'flat', amount: 0 }] },
      public: true,
    });
    expect(plan.status(), await plan.text()).toBe(201);

    const owner = await newContext(browser, c);
    const p = owner.page;
    await signUpVerified(p, newEmail('quota-owner'), newPassword(), seen);
    const slug = new URL(p.url()).pathname.split('/')[2]!;
    const api = apiAs(p, c);
    const switched = await api.put(`/v1/orgs/${slug}/billing/plan`, { plan: planKey });
    expect(switched.status(), await switched.text()).toBe(200);

    // Requests until the quota refuses one: every request of the organization counts (the console's own
    // too), a refused one does not.
    // The plan's quotas reach the instance's counters within their 10 s re-read at worst (a busy
    // machine): requests go on until one is refused, paced once past the limit.
    let refused: QuotaExceededBody | undefined;
    for (let i = 0, end = Date.now() + 30_000; !refused && (i <= limit || Date.now() < end); i++) {
      const res = await api.get(`/v1/orgs/${slug}/projects`);
      if (res.status() === 429) refused = (await res.json()) as QuotaExceededBody;
      else expect(res.status(), await res.text()).toBe(200);
      if (!refused && i >= limit) await new Promise((r) => setTimeout(r, 200));
    }
    expect(refused?.error).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      details: { meter: 'api_requests', period: 'month', limit },
    });
    const { resetAt } = refused!.error.details;
    // The first moment of next month (UTC): when the monthly quota starts again.
    const now = new Date();
    expect(resetAt).toBe(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString());

    // The projects screen (not exempt) draws the refusal: the meter, the reset time, the way out.
    await p.goto(`/o/${slug}/projects`);
    const alert = p.getByRole('alert').filter({ hasText: 'Could not load projects' });
    await alert.waitFor();
    await alert.getByText(`the plan allows ${limit} api_requests a month`).waitFor();
    await alert.getByText(`it resets at ${resetAt}`).waitFor();
    const note = alert.getByText('The organization reached a limit of its plan.');
    await note.waitFor();
    await expectAccessible(p, 'quota exceeded');
    await screenshots(p, 'quotas', '01-quota-exceeded');

    // The link leads to Plan & billing, which an organization over its quota still reaches.
    await alert.getByRole('link', { name: 'See usage and change plan in Plan & billing' }).click();
    await p.waitForURL(`${c.base}/o/${slug}/billing`);
    await p.getByRole('heading', { name: 'Plan & billing' }).waitFor();
    await p.getByRole('heading', { name: `Capped ${stamp}`, exact: true, level: 2 }).waitFor();
    await expectAccessible(p, 'plan & billing over the quota');

    for (const ctx of [admin, owner]) expect(ctx.problems).toEqual([]);
    await Promise.all([admin.context.close(), owner.context.close()]);
  }, 90_000);
});
