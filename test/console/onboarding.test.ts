import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  expectAccessible,
  mailedLink,
  newContext,
  newEmail,
  newPassword,
  screenshots,
  useConsoleSuite,
  type ConsoleApp,
} from './support.js';

const seen = new Set<string>();

/**
 * Issue 9, test 1, entirely through the screens: sign up → Personal Organization → verify through the
 * mailed link → create "Acme" → invite a colleague on the Invitations screen → the colleague registers from
 * the mailed link in a browser of their own and lands in Acme as a member → the owner makes them admin on
 * the Members screen → the colleague's next page shows what an admin may do.
 */
describe('console: onboarding in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('sign up → verify → "Acme" → invite a colleague → they register from the mail and join → the owner makes them admin → their next page follows', async () => {
    const { context, page, problems } = await newContext(browser, c);
    const folder = 'onboarding';
    const owner = newEmail('owner');

    await page.goto('/');
    // Signed out: the console sends the person to sign-in.
    await page.waitForURL('**/sign-in**');
    await expect
      .poll(() => page.getByRole('heading', { name: 'Sign in' }).isVisible(), { timeout: 10_000 })
      .toBe(true);
    await expectAccessible(page, 'sign-in');
    await screenshots(page, folder, '01-sign-in');

    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByRole('heading', { name: 'Create your account' }).waitFor();
    await expectAccessible(page, 'sign-up');
    await screenshots(page, folder, '02-sign-up');
    await page.getByRole('textbox', { name: 'Email' }).fill(owner);
    await page.getByRole('textbox', { name: 'Password' }).fill(newPassword());
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Check your mail' }).waitFor();
    await expect.poll(() => page.getByText(owner).isVisible(), { timeout: 10_000 }).toBe(true);
    await expectAccessible(page, 'check your mail');
    await screenshots(page, folder, '03-check-mail');

    // The mailed link opens the console, verifies the address and signs the person in, in their
    // Personal Organization.
    const link = await mailedLink(owner, 'verify-email', seen);
    expect(link.startsWith(`${c.origin}/verify-email?token=`)).toBe(true);
    await page.goto(link);
    await page.waitForURL(/\/o\/[a-z0-9-]+\/projects$/);
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
    const switcher = page.getByRole('combobox', { name: 'Organization' });
    await expect.poll(() => switcher.inputValue(), { timeout: 10_000 }).toMatch(/\(Personal\)$/);
    await page.getByText('No projects yet').waitFor();
    await expect.poll(() => page.getByText('Verify your email address').count(), { timeout: 10_000 }).toBe(0);
    await expectAccessible(page, 'projects (empty, personal organization)');
    await screenshots(page, folder, '04-personal-projects');

    // Create the organization "Acme" from the switcher.
    await page.getByRole('link', { name: 'New organization' }).click();
    await page.getByRole('heading', { name: 'New organization' }).waitFor();
    await page.getByRole('textbox', { name: 'Name' }).fill('Acme');
    expect(await page.getByRole('textbox', { name: 'Slug' }).inputValue()).toBe('acme');
    const slug = `acme-${randomBytes(3).toString('hex')}`;
    await page.getByRole('textbox', { name: 'Slug' }).fill(slug);
    await expectAccessible(page, 'new organization');
    await screenshots(page, folder, '05-new-organization');
    await page.getByRole('button', { name: 'Create organization' }).click();
    await page.waitForURL(`**/o/${slug}/projects`);
    await expect.poll(() => switcher.inputValue(), { timeout: 10_000 }).toBe('Acme');

    // A project in Acme.
    await page.getByRole('button', { name: 'New project' }).click();
    const dialog = page.getByRole('dialog', { name: 'New project' });
    await dialog.getByRole('textbox', { name: 'Name' }).fill('Website relaunch');
    await dialog.getByRole('textbox', { name: 'Description' }).fill('The first project of Acme');
    await dialog.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('cell', { name: 'Website relaunch', exact: true }).waitFor();
    await dialog.waitFor({ state: 'hidden' });
    await expectAccessible(page, 'projects (one project)');
    await screenshots(page, folder, '06-acme-projects');

    // Invite a colleague (and a designer, who stays pending) on the Invitations screen.
    const colleague = newEmail('colleague');
    const designer = newEmail('designer');
    await page.getByRole('link', { name: 'Invitations' }).click();
    await page.getByRole('heading', { name: 'Invitations', exact: true }).waitFor();
    await page.getByText('No pending invitations').waitFor();
    await page.getByRole('combobox', { name: 'Email addresses' }).fill(`${colleague}, ${designer}`);
    await page.getByRole('button', { name: 'Send invitations' }).click();
    const result = page.getByRole('listitem');
    await result.filter({ hasText: colleague }).getByText('sent').waitFor();
    await result.filter({ hasText: designer }).getByText('sent').waitFor();
    await page.getByRole('cell', { name: colleague, exact: true }).waitFor();
    await page.getByRole('cell', { name: designer, exact: true }).waitFor();
    await expectAccessible(page, 'invitations (two sent, pending)');
    await screenshots(page, folder, '06b-invitations');

    // The colleague, in a browser of their own, opens the mailed link: the page names Acme and the
    // invited address, which the new account gets.
    const invite = await mailedLink(colleague, 'accept-invitation', seen);
    expect(invite.startsWith(`${c.origin}/accept-invitation?token=`)).toBe(true);
    const them = await newContext(browser, c);
    await them.page.goto(invite);
    await them.page.getByRole('heading', { name: 'Join the organization' }).waitFor();
    await them.page.getByText('You are invited to join Acme as member.').waitFor();
    const fixed = them.page.getByRole('textbox', { name: 'Email' });
    expect(await fixed.inputValue()).toBe(colleague);
    expect(await fixed.getAttribute('readonly')).not.toBeNull();
    await expectAccessible(them.page, 'accept invitation (new user)');
    await screenshots(them.page, folder, '06c-colleague-accepts');
    await them.page.getByRole('textbox', { name: 'Password' }).fill(newPassword());
    await them.page.getByRole('button', { name: 'Create account and join' }).click();
    await them.page.waitForURL(`**/o/${slug}/projects`);
    const theirSwitcher = them.page.getByRole('combobox', { name: 'Organization' });
    await expect.poll(() => theirSwitcher.inputValue(), { timeout: 10_000 }).toBe('Acme');
    await them.page.getByRole('cell', { name: 'Website relaunch', exact: true }).waitFor();
    // A member: no Invitations screen, no role changes.
    const nav = them.page.getByRole('navigation', { name: 'Organization' });
    await nav.getByRole('link', { name: 'Members' }).waitFor();
    expect(await nav.getByRole('link', { name: 'Invitations' }).count()).toBe(0);
    await expectAccessible(them.page, 'projects (colleague, member)');
    await screenshots(them.page, folder, '06d-colleague-projects');

    // The owner makes the colleague an admin on the Members screen.
    await page.getByRole('link', { name: 'Members' }).click();
    await page.getByRole('cell', { name: colleague, exact: true }).waitFor();
    await page.getByRole('button', { name: `Change role of ${colleague}` }).click();
    const change = page.getByRole('dialog', { name: 'Change role' });
    await change.getByRole('combobox', { name: 'New role' }).click();
    await page.getByRole('option', { name: 'Admin', exact: true }).click();
    await expectAccessible(page, 'change role dialog');
    await change.getByRole('button', { name: 'Change role' }).click();
    await change.waitFor({ state: 'hidden' });
    const row = page.getByRole('row').filter({ hasText: colleague });
    await row.getByRole('cell', { name: 'Admin', exact: true }).waitFor();
    await page
      .getByRole('row')
      .filter({ hasText: owner })
      .getByRole('cell', { name: 'Owner', exact: true })
      .waitFor();
    await expectAccessible(page, 'members');
    await screenshots(page, folder, '07-members');

    // The colleague's next page shows an admin's screens and buttons.
    await them.page.goto(`/o/${slug}/members`);
    await nav.getByRole('link', { name: 'Invitations' }).waitFor();
    await them.page.getByRole('link', { name: 'Invite people' }).waitFor();
    await them.page.getByRole('button', { name: `Change role of ${owner}` }).waitFor({ state: 'detached' });
    await them.page.getByRole('row').filter({ hasText: owner }).getByText('Role above yours').waitFor();
    await expectAccessible(them.page, 'members (colleague, admin)');
    await screenshots(them.page, folder, '08-colleague-admin');

    expect(problems).toEqual([]);
    expect(them.problems).toEqual([]);
    await Promise.all([context.close(), them.context.close()]);
  }, 180_000);

  it('a verification link opened in another browser verifies the address but signs nobody in', async () => {
    const signedUp = await newContext(browser, c);
    const person = newEmail('elsewhere');
    const pw = newPassword();
    await signedUp.page.goto('/sign-up');
    await signedUp.page.getByRole('heading', { name: 'Create your account' }).waitFor();
    await signedUp.page.getByRole('textbox', { name: 'Email' }).fill(person);
    await signedUp.page.getByRole('textbox', { name: 'Password' }).fill(pw);
    await signedUp.page.getByRole('button', { name: 'Create account' }).click();
    await signedUp.page.getByRole('heading', { name: 'Check your mail' }).waitFor();
    const link = await mailedLink(person, 'verify-email', seen);
    await signedUp.context.close();

    // Another browser (no sign-up cookie, no session): verified, told to sign in, not signed in.
    const { context, page, problems } = await newContext(browser, c);
    await page.goto(link);
    await page.getByRole('heading', { name: 'Address verified' }).waitFor();
    await page.getByText('Your email address is verified').waitFor();
    await expectAccessible(page, 'verified elsewhere');
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByRole('textbox', { name: 'Email' }).fill(person);
    await page.getByRole('textbox', { name: 'Password' }).fill(pw);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/o\/[a-z0-9-]+\/projects$/);
    // Verified: no banner asking for it.
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
    expect(await page.getByText('Verify your email address').count()).toBe(0);
    expect(problems).toEqual([]);
    await context.close();
  }, 180_000);

  it('signed in before verifying: the banner sends a new link, which verifies the address', async () => {
    const { context, page, problems } = await newContext(browser, c);
    const person = newEmail('unverified');
    const pw = newPassword();
    await page.goto('/sign-up');
    await page.getByRole('heading', { name: 'Create your account' }).waitFor();
    await page.getByRole('textbox', { name: 'Email' }).fill(person);
    await page.getByRole('textbox', { name: 'Password' }).fill(pw);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Check your mail' }).waitFor();
    const first = await mailedLink(person, 'verify-email', seen);

    // Signing in works unverified; the console says what is missing and offers a new link.
    await page.goto('/sign-in');
    await page.getByRole('textbox', { name: 'Email' }).fill(person);
    await page.getByRole('textbox', { name: 'Password' }).fill(pw);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByText('Verify your email address').waitFor();
    await expectAccessible(page, 'unverified banner');
    await screenshots(page, 'verify', '01-banner');
    await page.getByRole('button', { name: `Send a new link to ${person}` }).click();
    await page.getByText(`We sent a new link to ${person}.`).waitFor();
    const second = await mailedLink(person, 'verify-email', seen);
    expect(second).not.toBe(first);

    await page.goto(second);
    await page.waitForURL(/\/o\/[a-z0-9-]+\/projects$/);
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
    await expect.poll(() => page.getByText('Verify your email address').count(), { timeout: 10_000 }).toBe(0);
    expect(problems).toEqual([]);
    await context.close();
  }, 180_000);
});
