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

describe('console: accepting an invitation in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('a new colleague registers from the mailed link and lands in the organization; the owner, signed in, reads whom it is for; a revoked one says so', async () => {
    const folder = 'invitation';
    const owner = await newContext(browser, c);
    const ownerEmail = newEmail('owner');
    await signUpVerified(owner.page, ownerEmail, newPassword(), seen);
    const api = apiAs(owner.page, c);
    const slug = `acme-${Date.now().toString(36)}`;
    expect((await api.post('/v1/organizations', { name: 'Acme', slug })).status()).toBe(201);

    const colleagueEmail = newEmail('colleague');
    const invited = await api.post(`/v1/orgs/${slug}/invitations`, { email: colleagueEmail, role: 'member' });
    expect(invited.status(), await invited.text()).toBe(201);
    const link = await mailedLink(colleagueEmail, 'accept-invitation', seen);
    expect(link.startsWith(`${c.origin}/accept-invitation?token=`)).toBe(true);

    // The owner (signed in as someone else) opens the colleague's link: told whom it is for, can sign out.
    await owner.page.goto(link);
    await owner.page.getByRole('button', { name: 'Accept invitation' }).click();
    await owner.page.getByText('This invitation is for another address').waitFor();
    expect(await owner.page.getByText(colleagueEmail.toLowerCase()).count()).toBeGreaterThan(0);
    await expectAccessible(owner.page, 'invitation for another address');
    await screenshots(owner.page, folder, '01-other-address');

    // The colleague, in a browser of their own: register-and-accept with the invited address.
    const colleague = await newContext(browser, c);
    await colleague.page.goto(link);
    await colleague.page.getByRole('heading', { name: 'Join the organization' }).waitFor();
    await expectAccessible(colleague.page, 'accept invitation (new user)');
    await screenshots(colleague.page, folder, '02-new-user');
    await colleague.page.getByRole('textbox', { name: 'Password' }).fill(newPassword());
    await colleague.page.getByRole('button', { name: 'Create account and join' }).click();
    await colleague.page.waitForURL(`**/o/${slug}/projects`);
    const switcher = colleague.page.getByRole('combobox', { name: 'Organization' });
    await expect.poll(() => switcher.inputValue(), { timeout: 10_000 }).toBe('Acme');
    // A member may create projects.
    await colleague.page.getByRole('button', { name: 'New project' }).waitFor();
    await colleague.page.getByRole('link', { name: 'Members' }).click();
    await colleague.page.getByRole('cell', { name: ownerEmail, exact: true }).waitFor();
    await colleague.page.getByRole('cell', { name: colleagueEmail.toLowerCase(), exact: true }).waitFor();
    await expectAccessible(colleague.page, 'members (colleague)');
    await screenshots(colleague.page, folder, '03-colleague-members');

    // The owner makes the colleague a viewer: the colleague's next page offers no project creation.
    const members = (await (await api.get(`/v1/orgs/${slug}/members`)).json()) as {
      data: { userId: string; email: string }[];
    };
    const colleagueId = members.data.find((m) => m.email === colleagueEmail.toLowerCase())!.userId;
    expect((await api.patch(`/v1/orgs/${slug}/members/${colleagueId}`, { role: 'viewer' })).status()).toBe(
      200,
    );
    await colleague.page.goto(`/o/${slug}/projects`);
    await colleague.page.getByText('Your role cannot create projects.').waitFor();
    expect(await colleague.page.getByRole('button', { name: 'New project' }).count()).toBe(0);

    // Used: opening the link again, signed out, says it was used.
    const stranger = await newContext(browser, c);
    await stranger.page.goto(link);
    await stranger.page.getByRole('textbox', { name: 'Password' }).fill(newPassword());
    await stranger.page.getByRole('button', { name: 'Create account and join' }).click();
    await stranger.page.getByText('This invitation was already used').waitFor();

    // Revoked: the link says the organization withdrew it.
    const otherEmail = newEmail('revoked');
    const other = await api.post(`/v1/orgs/${slug}/invitations`, { email: otherEmail, role: 'member' });
    const otherLink = await mailedLink(otherEmail, 'accept-invitation', seen);
    const otherId = ((await other.json()) as { id: string }).id;
    expect((await api.delete(`/v1/orgs/${slug}/invitations/${otherId}`)).status()).toBe(204);
    await stranger.page.goto(otherLink);
    await stranger.page.getByRole('textbox', { name: 'Password' }).fill(newPassword());
    await stranger.page.getByRole('button', { name: 'Create account and join' }).click();
    await stranger.page.getByText('This invitation was withdrawn by the organization.').waitFor();
    await expectAccessible(stranger.page, 'revoked invitation');
    await screenshots(stranger.page, folder, '04-revoked');

    // Signing out from the "other address" screen leaves the owner signed out, on the invitation.
    await owner.page.getByRole('button', { name: 'Sign out' }).click();
    await owner.page.getByRole('button', { name: 'Create account and join' }).waitFor();

    for (const ctx of [owner, colleague, stranger]) expect(ctx.problems).toEqual([]);
    await Promise.all([owner.context.close(), colleague.context.close(), stranger.context.close()]);
  }, 240_000);
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
    await existing.page.getByRole('link', { name: 'Sign in to accept' }).click();
    await existing.page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await existing.page.getByRole('textbox', { name: 'Email' }).fill(email);
    await existing.page.getByRole('textbox', { name: 'Password' }).fill(password);
    await existing.page.getByRole('button', { name: 'Sign in' }).click();
    // Back on the invitation, signed in with the invited address.
    await existing.page.waitForURL('**/accept-invitation?token=**');
    await existing.page.getByText(`You are signed in as ${email}`).waitFor();
    await expectAccessible(existing.page, 'accept invitation (signed in)');
    await screenshots(existing.page, 'invitation', '05-signed-in');
    await existing.page.getByRole('button', { name: 'Accept invitation' }).click();
    await existing.page.waitForURL(`**/o/${slug}/projects`);
    await existing.page.getByText('Your role cannot create projects.').waitFor();
    for (const ctx of [owner, existing]) expect(ctx.problems).toEqual([]);
    await Promise.all([owner.context.close(), existing.context.close()]);
  }, 180_000);
});
