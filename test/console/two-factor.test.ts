import type { Browser, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { base32Decode } from '../../src/modules/two-factor/base32.js';
import { totp } from '../../src/modules/two-factor/totp.js';
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
const FOLDER = 'two-factor';

/** The secret of an `otpauth://totp/…?secret=…` URI, as bytes (what an authenticator app stores). */
const secretOf = (otpauthUri: string) => base32Decode(new URL(otpauthUri).searchParams.get('secret')!);

/**
 * Enrols the page's user through the two-factor screen (already open): "Set up", the secret read from the
 * API's answer (the `otpauth://` URI), a code computed from it (RFC 6238, the server's own helper). Returns
 * the secret and the recovery codes the screen shows.
 */
async function enrolThroughThePage(page: Page, shots?: string) {
  const answer = page.waitForResponse(
    (r) => r.url().endsWith('/v1/auth/two-factor/enroll') && r.request().method() === 'POST',
  );
  await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
  const { otpauthUri, secret: shownSecret } = (await (await answer).json()) as {
    otpauthUri: string;
    secret: string;
  };
  expect(otpauthUri).toMatch(/^otpauth:\/\/totp\//);
  const qr = page.getByRole('img', { name: /QR code/ });
  await qr.waitFor();
  expect(await qr.getAttribute('src')).toMatch(/^data:image\/svg\+xml/);
  // The key for typing in by hand is on the page too (in groups of four).
  const groups = shownSecret.replace(/(.{4})(?=.)/g, '$1 ');
  await page.getByText(groups, { exact: true }).waitFor();
  const secret = secretOf(otpauthUri);
  if (shots) {
    await expectAccessible(page, 'two-factor: QR code and key');
    await screenshots(page, FOLDER, `${shots}-qr`);
    // The dark scheme too (the QR code keeps a light background for scanners).
    await page.emulateMedia({ colorScheme: 'dark' });
    await expectAccessible(page, 'two-factor: QR code and key, dark');
    await screenshots(page, FOLDER, `${shots}-qr-dark`);
    await page.emulateMedia({ colorScheme: 'light' });
  }
  // A wrong code first: refused next to the field, nothing turned on.
  const field = page.getByRole('textbox', { name: 'Authentication code' });
  await field.fill('000000');
  await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
  await expect.poll(() => field.getAttribute('aria-invalid'), { timeout: 10_000 }).toBe('true');
  await page.getByText('the code is not valid').waitFor();
  await field.fill(totp(secret, Date.now()));
  await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
  await page.getByText('they will not be shown again').waitFor();
  const codes = await page
    .getByRole('list', { name: 'Recovery codes' })
    .getByRole('listitem')
    .allTextContents();
  expect(codes).toHaveLength(10);
  return { secret, recoveryCodes: codes.map((c) => c.trim()) };
}

async function signIn(page: Page, email: string, password: string) {
  await page.goto('/sign-in');
  await page.getByRole('textbox', { name: 'Email' }).fill(email);
  await page.getByRole('textbox', { name: 'Password' }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { name: 'Two-factor authentication' }).waitFor();
}

async function signOut(page: Page, email: string) {
  await page.getByRole('button', { name: email }).click();
  await page.getByRole('menuitem', { name: 'Sign out' }).click();
  await page.waitForURL(/\/sign-in(\?|$)/);
}

describe('console: two-factor authentication in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('enrol (QR code, key, first code, recovery codes once), sign in with a code, then with a recovery code', async () => {
    const { context, page, problems } = await newContext(browser, c);
    const email = newEmail('2fa');
    const password = newPassword();
    await signUpVerified(page, email, password, seen);

    // From the account page's status to the two-factor screen.
    await page.goto('/account');
    await page.getByRole('heading', { name: 'Two-factor authentication' }).waitFor();
    await page.getByRole('link', { name: 'Set up two-factor authentication' }).click();
    await page.waitForURL('**/account/two-factor');
    await page.getByRole('heading', { level: 1, name: 'Two-factor authentication' }).waitFor();
    await expectAccessible(page, 'two-factor: not enrolled');
    await screenshots(page, FOLDER, '01-not-enrolled');

    const { secret, recoveryCodes } = await enrolThroughThePage(page, '02');
    await expectAccessible(page, 'two-factor: recovery codes');
    await screenshots(page, FOLDER, '03-recovery-codes');
    // "Done" waits until the person says the codes are saved; then they are gone for good.
    const done = page.getByRole('button', { name: 'Done' });
    expect(await done.isDisabled()).toBe(true);
    await page.getByRole('checkbox', { name: 'I have saved my recovery codes' }).check();
    await done.click();
    await page.getByText('Two-factor authentication is on', { exact: true }).waitFor();
    expect(await page.getByText(recoveryCodes[0]!).count()).toBe(0);
    await expectAccessible(page, 'two-factor: enrolled');
    await screenshots(page, FOLDER, '04-enrolled');

    // Turning it off asks for confirmation (and a code) in a modal; cancelled here.
    await page.getByRole('button', { name: 'Turn off two-factor authentication' }).click();
    const modal = page.getByRole('dialog', { name: 'Turn off two-factor authentication' });
    await modal.getByRole('textbox', { name: 'Authentication code' }).waitFor();
    await expectAccessible(page, 'two-factor: turn off confirmation');
    await modal.getByRole('button', { name: 'Cancel' }).click();
    await modal.waitFor({ state: 'hidden' });

    // The account page says it is on.
    await page.goto('/account');
    await page.getByRole('link', { name: 'Manage two-factor authentication' }).waitFor();

    // Sign out; sign in with a code from the app (the next time step: the enrolment's one is used up).
    await signOut(page, email);
    await signIn(page, email, password);
    await page.getByRole('textbox', { name: 'Authentication code' }).fill(totp(secret, Date.now() + 30_000));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(/\/o\/[a-z0-9-]+\/projects$/);

    // Sign out; sign in with a recovery code; the same one does not work twice.
    await signOut(page, email);
    await signIn(page, email, password);
    await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
    await page.getByRole('textbox', { name: 'Recovery code' }).fill(recoveryCodes[0]!);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(/\/o\/[a-z0-9-]+\/projects$/);
    // It is used up, and the page says how many are left.
    await page.getByText('9 recovery codes left').waitFor();
    await expectAccessible(page, 'signed in with a recovery code');
    await screenshots(page, FOLDER, '05-recovery-code-used');
    await signOut(page, email);
    await signIn(page, email, password);
    await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
    await page.getByRole('textbox', { name: 'Recovery code' }).fill(recoveryCodes[0]!);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByText('the code is not valid').waitFor();
    await page.getByRole('textbox', { name: 'Recovery code' }).fill(recoveryCodes[1]!);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(/\/o\/[a-z0-9-]+\/projects$/);
    expect(problems).toEqual([]);
    await context.close();
  }, 180_000);

  it('an organization that requires two-factor sends a member without it to enrolment, and back afterwards', async () => {
    // The owner has two-factor (only such a member may require it), enrolled through the API.
    const owner = await newContext(browser, c);
    await signUpVerified(owner.page, newEmail('2fa-owner'), newPassword(), seen);
    const api = apiAs(owner.page, c);
    const enroll = (await (await api.post('/v1/auth/two-factor/enroll')).json()) as { otpauthUri: string };
    const confirmed = await api.post('/v1/auth/two-factor/enroll/confirm', {
      code: totp(secretOf(enroll.otpauthUri), Date.now()),
    });
    expect(confirmed.status(), await confirmed.text()).toBe(200);
    const slug = `secure-${Date.now().toString(36)}`;
    expect((await api.post('/v1/organizations', { name: 'Secure Co', slug })).status()).toBe(201);
    const policy = await owner.page.request.put(`${c.base}/v1/orgs/${slug}/organization/two-factor-policy`, {
      headers: { origin: c.origin },
      data: { required: true },
    });
    expect(policy.status(), await policy.text()).toBe(200);

    // A colleague without two-factor registers from the invitation and joins.
    const memberEmail = newEmail('2fa-member');
    const invited = await api.post(`/v1/orgs/${slug}/invitations`, { email: memberEmail, role: 'member' });
    expect(invited.status(), await invited.text()).toBe(201);
    const member = await newContext(browser, c);
    await member.page.goto(await mailedLink(memberEmail, 'accept-invitation', seen));
    await member.page.getByRole('textbox', { name: 'Password' }).fill(newPassword());
    await member.page.getByRole('button', { name: 'Create account and join' }).click();
    await member.page.waitForURL('**/account/two-factor?required=**');

    // Opening the organization's projects lands on enrolment, with the reason.
    await member.page.goto(`/o/${slug}/projects`);
    await member.page.waitForURL(`**/account/two-factor?required=${slug}`);
    await member.page.getByText('Secure Co requires two-factor authentication').waitFor();
    expect(await member.page.getByRole('heading', { name: 'Projects' }).count()).toBe(0);
    await expectAccessible(member.page, 'two-factor required by an organization');
    await screenshots(member.page, FOLDER, '06-required');

    // Enrolment, then back to the organization.
    await enrolThroughThePage(member.page);
    const back = member.page.getByRole('button', { name: 'Continue to Secure Co' });
    expect(await back.isDisabled()).toBe(true);
    await member.page.getByRole('checkbox', { name: 'I have saved my recovery codes' }).check();
    await member.page.getByRole('link', { name: 'Continue to Secure Co' }).click();
    await member.page.waitForURL(`**/o/${slug}/projects`);
    await member.page.getByRole('heading', { name: 'Projects' }).waitFor();
    for (const ctx of [owner, member]) expect(ctx.problems).toEqual([]);
    await Promise.all([owner.context.close(), member.context.close()]);
  }, 180_000);
});
