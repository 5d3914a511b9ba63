import { readFile } from 'node:fs/promises';
import type { Browser, Locator, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { base32Decode } from '../../src/modules/two-factor/base32.js';
import { totp } from '../../src/modules/two-factor/totp.js';
import {
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
const FOLDER = 'account';

/** The message drawn next to a field (its `aria-describedby` error element), once it is invalid. */
async function fieldError(page: Page, field: Locator): Promise<string> {
  await expect.poll(() => field.getAttribute('aria-invalid'), { timeout: 10_000 }).toBe('true');
  const describedBy = (await field.getAttribute('aria-describedby')) ?? '';
  const id = describedBy.split(' ').find((i) => i.endsWith('-error'));
  return (await page.locator(`[id="${id}"]`).textContent()) ?? '';
}

async function signIn(page: Page, email: string, password: string) {
  await page.goto('/sign-in');
  await page.getByRole('textbox', { name: 'Email' }).fill(email);
  await page.getByRole('textbox', { name: 'Password' }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(/\/o\/[a-z0-9-]+\/projects$/);
}

/** The rows of the sessions table. */
const sessionRows = (page: Page) =>
  page
    .getByRole('region', { name: 'Sessions' })
    .getByRole('row')
    .filter({ has: page.getByRole('cell') });

describe('console: the account page in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('profile: the email read-only and verified, a name refused next to the field, then saved', async () => {
    const { context, page, problems } = await newContext(browser, c);
    const email = newEmail('profile');
    await signUpVerified(page, email, newPassword(), seen);
    await page.getByRole('button', { name: email }).click();
    await page.getByRole('menuitem', { name: 'Account' }).click();
    await page.waitForURL('**/account');
    await page.getByRole('heading', { level: 1, name: 'Account' }).waitFor();

    const emailField = page.getByRole('textbox', { name: 'Email' });
    expect(await emailField.inputValue()).toBe(email.toLowerCase());
    expect(await emailField.getAttribute('readonly')).not.toBeNull();
    await page.getByText('Verified', { exact: true }).waitFor();

    // 101 characters: the server refuses, its message is drawn next to the Name field.
    const name = page.getByRole('textbox', { name: 'Name' });
    await name.fill('x'.repeat(101));
    await page.getByRole('button', { name: 'Save profile' }).click();
    expect(await fieldError(page, name)).toBe('name must NOT have more than 100 characters');
    await expectAccessible(page, 'account: name refused');
    await screenshots(page, FOLDER, '01-name-refused');

    await name.fill('  Ada Lovelace ');
    await page.getByRole('button', { name: 'Save profile' }).click();
    await page.getByRole('status').filter({ hasText: 'Name saved.' }).waitFor();
    expect(await name.getAttribute('aria-invalid')).not.toBe('true');
    await page.reload();
    await expect.poll(() => name.inputValue(), { timeout: 10_000 }).toBe('Ada Lovelace');

    // Emptying the field removes the name.
    await name.fill('');
    await page.getByRole('button', { name: 'Save profile' }).click();
    await page.getByRole('status').filter({ hasText: 'Name removed.' }).waitFor();
    expect(problems).toEqual([]);
    await context.close();
  }, 120_000);

  it('sessions: two listed, this one marked, the other signed out; a password change signs out every other session', async () => {
    const a = await newContext(browser, c);
    const email = newEmail('sessions');
    const password = newPassword();
    await signUpVerified(a.page, email, password, seen);
    const b = await newContext(browser, c);
    await signIn(b.page, email, password);

    await a.page.goto('/account');
    await expect.poll(() => sessionRows(a.page).count(), { timeout: 10_000 }).toBe(2);
    const mine = sessionRows(a.page).filter({ hasText: 'This session' });
    expect(await mine.count()).toBe(1);
    await mine.getByText('Chrome on Linux').waitFor();
    await expectAccessible(a.page, 'account: two sessions');
    await screenshots(a.page, FOLDER, '02-sessions');

    // Revoke the other one, after confirmation: it is gone from the list, and B is signed out.
    await sessionRows(a.page).filter({ hasNotText: 'This session' }).getByRole('button').click();
    const confirm = a.page.getByRole('dialog', { name: 'Sign out a session' });
    await confirm.getByText('Whoever uses it will have to sign in again').waitFor();
    await expectAccessible(a.page, 'account: revoke confirmation');
    await screenshots(a.page, FOLDER, '03-revoke-confirmation');
    await confirm.getByRole('button', { name: 'Sign out' }).click();
    await confirm.waitFor({ state: 'hidden' });
    await expect.poll(() => sessionRows(a.page).count(), { timeout: 10_000 }).toBe(1);
    await b.page.reload();
    await b.page.waitForURL('**/sign-in?next=**');

    // B signs in again; A changes the password: a weak one is refused next to the field first.
    await signIn(b.page, email, password);
    await a.page.reload();
    await expect.poll(() => sessionRows(a.page).count(), { timeout: 10_000 }).toBe(2);
    const current = a.page.getByRole('textbox', { name: 'Current password' });
    const next = a.page.getByRole('textbox', { name: 'New password', exact: true });
    const repeat = a.page.getByRole('textbox', { name: 'Repeat the new password' });
    await current.fill(password);
    await next.fill('password123');
    await repeat.fill('password123');
    await a.page.getByRole('button', { name: 'Change password' }).click();
    expect(await fieldError(a.page, next)).toMatch(/^password /);
    await expectAccessible(a.page, 'account: weak password refused');
    await screenshots(a.page, FOLDER, '04-weak-password');

    // A wrong current password is drawn next to that field.
    await current.fill('not-my-password');
    const newOne = newPassword();
    await next.fill(newOne);
    await repeat.fill(newOne);
    await a.page.getByRole('button', { name: 'Change password' }).click();
    expect(await fieldError(a.page, current)).toBe('the current password is incorrect');

    await current.fill(password);
    await a.page.getByRole('button', { name: 'Change password' }).click();
    await a.page.getByText('Every other session of your account was signed out').waitFor();
    await expectAccessible(a.page, 'account: password changed');
    await screenshots(a.page, FOLDER, '05-password-changed');
    await expect.poll(() => sessionRows(a.page).count(), { timeout: 10_000 }).toBe(1);
    // The browser signed in before is signed out; this one is not.
    await b.page.reload();
    await b.page.waitForURL('**/sign-in?next=**');
    await a.page.reload();
    await a.page.getByRole('heading', { level: 1, name: 'Account' }).waitFor();

    // Signing out this session itself (confirmed) ends at sign-in; the new password works.
    await sessionRows(a.page).getByRole('button', { name: 'Sign out this session' }).click();
    const self = a.page.getByRole('dialog', { name: 'Sign out a session' });
    await self.getByText('This is the session you are using now').waitFor();
    await self.getByRole('button', { name: 'Sign out' }).click();
    await a.page.waitForURL(/\/sign-in$/);
    await signIn(a.page, email, newOne);
    for (const p of [a.problems, b.problems]) expect(p).toEqual([]);
    await Promise.all([a.context.close(), b.context.close()]);
  }, 180_000);

  it('recovery codes download as a .txt file, after enrolment and after generating new ones', async () => {
    const { context, page, problems } = await newContext(browser, c);
    const email = newEmail('codes');
    await signUpVerified(page, email, newPassword(), seen);
    await page.goto('/account/two-factor');
    const answer = page.waitForResponse((r) => r.url().endsWith('/v1/auth/two-factor/enroll'));
    await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
    const { otpauthUri } = (await (await answer).json()) as { otpauthUri: string };
    const secret = base32Decode(new URL(otpauthUri).searchParams.get('secret')!);
    await page.getByRole('textbox', { name: 'Authentication code' }).fill(totp(secret, Date.now()));
    await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();

    const codesList = page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem');
    const download = async () => {
      await page.getByText('they will not be shown again').first().waitFor();
      const shown = (await codesList.allTextContents()).map((s) => s.trim());
      expect(shown).toHaveLength(10);
      const event = page.waitForEvent('download');
      await page.getByRole('button', { name: 'Download codes (.txt)' }).click();
      const file = await event;
      expect(file.suggestedFilename()).toBe('saasready-recovery-codes.txt');
      const text = await readFile(await file.path(), 'utf8');
      expect(text).toContain(`SaaSReady recovery codes for ${email.toLowerCase()}`);
      for (const code of shown) expect(text).toContain(`\n${code}\n`);
      return shown;
    };
    const first = await download();

    // New codes (a recovery code as the proof): shown once, downloadable, and the old ones are gone.
    await page.getByRole('checkbox', { name: 'I have saved my recovery codes' }).check();
    await page.getByRole('button', { name: 'Done' }).click();
    const proof = page.getByRole('textbox', { name: 'Authentication code' });
    await proof.fill('wrong-code');
    await page.getByRole('button', { name: 'Generate new recovery codes' }).click();
    expect(await fieldError(page, proof)).toBe('the code is not valid');
    await expectAccessible(page, 'two-factor: wrong code for new recovery codes');
    await proof.fill(first[0]!);
    await page.getByRole('button', { name: 'Generate new recovery codes' }).click();
    await page.getByText('New recovery codes generated').waitFor();
    const second = await download();
    expect(second.some((code) => first.includes(code))).toBe(false);
    await expectAccessible(page, 'two-factor: new recovery codes');
    await screenshots(page, FOLDER, '06-new-recovery-codes');
    expect(problems).toEqual([]);
    await context.close();
  }, 120_000);
});
