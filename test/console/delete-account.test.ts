import type { Browser, Locator, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { connect, testDb } from '../support/tenancy.js';
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
const FOLDER = 'delete-account';

/** The message drawn next to a field (its `aria-describedby` error element), once it is invalid. */
async function fieldError(page: Page, field: Locator): Promise<string> {
  await expect.poll(() => field.getAttribute('aria-invalid'), { timeout: 10_000 }).toBe('true');
  const describedBy = (await field.getAttribute('aria-describedby')) ?? '';
  const id = describedBy.split(' ').find((i) => i.endsWith('-error'));
  return (await page.locator(`[id="${id}"]`).textContent()) ?? '';
}

describe('console: deleting my account in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('asks for the password, explains the last-owner refusal with a link, then erases and signs out', async () => {
    const a = await newContext(browser, c);
    const b = await newContext(browser, c);
    const email = newEmail('erase-me');
    const password = newPassword();
    await signUpVerified(a.page, email, password, seen);
    await signUpVerified(b.page, newEmail('erase-other'), newPassword(), seen);
    const slug = `erase-shared-${Date.now().toString(36)}`;
    const created = await apiAs(a.page, c).post('/v1/organizations', { slug, name: 'Erasure Shared' });
    expect(created.status()).toBe(201);
    const orgId = ((await created.json()) as { id: string }).id;
    const other = ((await (await apiAs(b.page, c).get('/v1/auth/me')).json()) as { user: { id: string } })
      .user.id;
    const su = await connect(testDb().adminUrl);
    try {
      await su.query(
        `insert into memberships (organization_id, user_id, role, status) values ($1, $2, 'member', 'active')`,
        [orgId, other],
      );
    } finally {
      await su.end();
    }

    const { page } = a;
    await page.goto('/account');
    const section = page.getByRole('region', { name: 'Delete my account' });
    await section.getByRole('button', { name: 'Delete my account' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete my account' });
    const passwordField = dialog.getByLabel('Current password');
    await passwordField.fill('not-my-password');
    await dialog.getByRole('button', { name: 'Delete my account' }).click();
    expect(await fieldError(page, passwordField)).toBe('the current password is incorrect');
    await expectAccessible(page, 'delete account: wrong password');
    await screenshots(page, FOLDER, '01-wrong-password');

    await passwordField.fill(password);
    await dialog.getByRole('button', { name: 'Delete my account' }).click();
    const refusal = dialog.getByRole('alert').filter({ hasText: 'Your account was not deleted' });
    await refusal.waitFor();
    expect(await refusal.textContent()).toContain('only owner');
    expect(await refusal.getByRole('link', { name: 'Erasure Shared' }).getAttribute('href')).toBe(
      `/o/${slug}/members`,
    );
    await expectAccessible(page, 'delete account: last owner');
    await screenshots(page, FOLDER, '02-last-owner');

    // The other member leaves; deleting works and the tab ends on the sign-in page.
    const removed = await page.request.delete(`${c.base}/v1/members/${other}`, {
      headers: { origin: c.origin, 'x-organization': slug },
    });
    expect(removed.status()).toBe(204);
    await dialog.getByRole('button', { name: 'Delete my account' }).click();
    await page.waitForURL(/\/sign-in/);
    await page.getByRole('textbox', { name: 'Email' }).fill(email);
    await page.getByRole('textbox', { name: 'Password' }).fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('alert').waitFor();
    expect(page.url()).toMatch(/\/sign-in/);
    await expectAccessible(page, 'delete account: signed out');

    for (const p of [a.problems, b.problems]) expect(p).toEqual([]);
    await Promise.all([a.context.close(), b.context.close()]);
  });
});
