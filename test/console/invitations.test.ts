import type { Browser } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  apiAs,
  expectAccessible,
  mailedLink,
  newContext,
  newEmail,
  newPassword,
  screenshots,
  signUpVerified,
  useConsoleSuite,
  type ConsoleApp,
} from './support.js';

const seen = new Set<string>();

/**
 * The mailed invitation link, in every state it can be found in (the happy path of a new colleague is the
 * onboarding test's): read before accepting, so a signed-in user with another address is told whom it is
 * for up front; used, revoked, expired and unknown links say so without asking for anything.
 */
describe('console: the invitation link in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('signed in with another address: "this invitation is for x@…" up front, sign out, join with the invited address; used, revoked, expired and unknown links say so', async () => {
    const folder = 'invitation';
    const owner = await newContext(browser, c);
    const ownerEmail = newEmail('owner');
    await signUpVerified(owner.page, ownerEmail, newPassword(), seen);
    const api = apiAs(owner.page, c);
    const slug = `acme-${Date.now().toString(36)}`;
    const created = await api.post('/v1/organizations', { name: 'Acme', slug });
    expect(created.status()).toBe(201);
    const orgId = ((await created.json()) as { id: string }).id;
    const invite = async (email: string) => {
      const res = await api.post(`/v1/orgs/${slug}/invitations`, { email, role: 'member' });
      expect(res.status(), await res.text()).toBe(201);
      return {
        id: ((await res.json()) as { id: string }).id,
        link: await mailedLink(email, 'accept-invitation', seen),
      };
    };
    const colleagueEmail = newEmail('colleague');
    const colleague = await invite(colleagueEmail);
    const revoked = await invite(newEmail('revoked'));
    expect((await api.delete(`/v1/orgs/${slug}/invitations/${revoked.id}`)).status()).toBe(204);
    const expired = await invite(newEmail('expired'));
    await c.tenancy.withTenant(orgId, (db) =>
      db
        .updateTable('invitations')
        .set({ expires_at: new Date(Date.now() - 60_000) })
        .where('organization_id', '=', orgId)
        .where('id', '=', expired.id)
        .execute(),
    );

    // The owner, signed in as someone else, opens the colleague's link: told at once whom it is for.
    const { page } = owner;
    await page.goto(colleague.link);
    await page.getByText('This invitation is for another address').waitFor();
    await page
      .getByText(`This invitation is for ${colleagueEmail}, and you are signed in as ${ownerEmail}`)
      .waitFor();
    expect(await page.getByRole('button', { name: 'Accept invitation' }).count()).toBe(0);
    await expectAccessible(page, 'invitation for another address');
    await screenshots(page, folder, '01-other-address');

    // Signing out stays on the invitation: the account is created for the invited address, shown fixed.
    await page.getByRole('button', { name: 'Sign out' }).click();
    const email = page.getByRole('textbox', { name: 'Email' });
    await email.waitFor();
    expect(await email.inputValue()).toBe(colleagueEmail);
    await page.getByText('You are invited to join Acme as member.').waitFor();
    await expectAccessible(page, 'accept invitation (signed out)');
    await screenshots(page, folder, '02-signed-out');
    await page.getByRole('textbox', { name: 'Password' }).fill(newPassword());
    await page.getByRole('button', { name: 'Create account and join' }).click();
    await page.waitForURL(`**/o/${slug}/projects`);

    // Used, revoked, expired, unknown: each says so on arrival, for anyone, with no form to fill.
    const stranger = await newContext(browser, c);
    const cases = [
      [colleague.link, 'This invitation was already used. Sign in to open the organization.', '03-used'],
      [revoked.link, 'This invitation was withdrawn by the organization.', '04-revoked'],
      [
        expired.link,
        'This invitation has expired. Ask an administrator of the organization to send you a new one.',
        '05-expired',
      ],
      [
        `${c.origin}/accept-invitation?token=${'x'.repeat(43)}`,
        'This invitation does not exist',
        '06-unknown',
      ],
    ] as const;
    for (const [link, text, step] of cases) {
      await stranger.page.goto(link);
      await stranger.page.getByText(text).waitFor();
      expect(await stranger.page.getByRole('textbox', { name: 'Password' }).count()).toBe(0);
      await expectAccessible(stranger.page, step);
      if (step !== '06-unknown') await screenshots(stranger.page, folder, step);
    }

    for (const ctx of [owner, stranger]) expect(ctx.problems).toEqual([]);
    await Promise.all([owner.context.close(), stranger.context.close()]);
  }, 120_000);

  it('an existing user, signed out, signs in from the invitation and accepts it', async () => {
    const owner = await newContext(browser, c);
    await signUpVerified(owner.page, newEmail('owner2'), newPassword(), seen);
    const api = apiAs(owner.page, c);
    const slug = `globex-${Date.now().toString(36)}`;
    expect((await api.post('/v1/organizations', { name: 'Globex', slug })).status()).toBe(201);

    const existing = await newContext(browser, c);
    const email = newEmail('existing');
    const password = newPassword();
    await signUpVerified(existing.page, email, password, seen);
    await apiAs(existing.page, c).post('/v1/auth/logout');

    expect((await api.post(`/v1/orgs/${slug}/invitations`, { email, role: 'viewer' })).status()).toBe(201);
    await existing.page.goto(await mailedLink(email, 'accept-invitation', seen));
    await existing.page.getByText('You are invited to join Globex as viewer.').waitFor();
    await existing.page.getByRole('link', { name: 'Sign in to accept' }).click();
    await existing.page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await existing.page.getByRole('textbox', { name: 'Email' }).fill(email);
    await existing.page.getByRole('textbox', { name: 'Password' }).fill(password);
    await existing.page.getByRole('button', { name: 'Sign in', exact: true }).click();
    // Back on the invitation, signed in with the invited address.
    await existing.page.waitForURL('**/accept-invitation?token=**');
    await existing.page.getByText(`You are signed in as ${email}`).waitFor();
    await expectAccessible(existing.page, 'accept invitation (signed in)');
    await screenshots(existing.page, 'invitation', '07-signed-in');
    await existing.page.getByRole('button', { name: 'Accept invitation' }).click();
    await existing.page.waitForURL(`**/o/${slug}/projects`);
    await existing.page.getByText('Your role cannot create projects.').waitFor();
    for (const ctx of [owner, existing]) expect(ctx.problems).toEqual([]);
    await Promise.all([owner.context.close(), existing.context.close()]);
  }, 120_000);
});
