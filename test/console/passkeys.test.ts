import type { Browser, BrowserContext, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { base32Decode } from '../../src/modules/two-factor/base32.js';
import { totp } from '../../src/modules/two-factor/totp.js';
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
const FOLDER = 'passkeys';

/**
 * A CDP virtual authenticator on the page (a platform authenticator with resident keys and user
 * verification that always succeeds): what a laptop's fingerprint reader or a phone would be.
 */
async function virtualAuthenticator(context: BrowserContext, page: Page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
    },
  });
  return {
    credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials,
  };
}

async function addPasskey(page: Page, name: string) {
  await page.goto('/account');
  await page.getByRole('heading', { name: 'Passkeys' }).waitFor();
  await page.getByRole('textbox', { name: 'Device' }).fill(name);
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await page.getByText(name, { exact: true }).waitFor();
}

async function signOut(page: Page, email: string) {
  await page.getByRole('button', { name: email }).click();
  await page.getByRole('menuitem', { name: 'Sign out' }).click();
  await page.waitForURL(/\/sign-in(\?|$)/);
}

describe('console: passkeys in Chromium (CDP virtual authenticator)', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('add a passkey on the account page, rename it, sign out, sign in with the passkey (no password)', async () => {
    const { context, page, problems } = await newContext(browser, c);
    const authenticator = await virtualAuthenticator(context, page);
    const email = newEmail('passkey');
    await signUpVerified(page, email, newPassword(), seen);

    await page.goto('/account');
    await page.getByRole('heading', { name: 'Passkeys' }).waitFor();
    await page.getByText('No passkeys yet').waitFor();
    await expectAccessible(page, 'passkeys: none');
    await addPasskey(page, 'Laptop');
    expect(await authenticator.credentials()).toHaveLength(1);
    await page.getByRole('cell', { name: 'Never' }).waitFor();
    await expectAccessible(page, 'passkeys: one');
    await screenshots(page, FOLDER, '01-added');

    await page.getByRole('button', { name: 'Rename passkey Laptop' }).click();
    const dialog = page.getByRole('dialog', { name: 'Rename passkey' });
    await dialog.getByRole('textbox', { name: 'New name' }).fill('Work laptop');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByText('Work laptop', { exact: true }).waitFor();

    await signOut(page, email);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.waitForURL(/\/o\/[a-z0-9-]+\/projects$/);

    // The account page shows its last use.
    await page.goto('/account');
    await page.getByText('Work laptop', { exact: true }).waitFor();
    expect(await page.getByRole('cell', { name: 'Never' }).count()).toBe(0);

    // Removed: listed no more.
    await page.getByRole('button', { name: 'Remove passkey Work laptop' }).click();
    await page
      .getByRole('dialog', { name: 'Remove passkey' })
      .getByRole('button', { name: 'Remove' })
      .click();
    await page.getByText('No passkeys yet').waitFor();
    expect(problems).toEqual([]);
    await context.close();
  }, 180_000);

  it('a user with TOTP completes the second factor with a passkey instead of a code', async () => {
    const { context, page, problems } = await newContext(browser, c);
    await virtualAuthenticator(context, page);
    const email = newEmail('passkey-2fa');
    const password = newPassword();
    await signUpVerified(page, email, password, seen);
    const api = apiAs(page, c);
    const enroll = (await (await api.post('/v1/auth/two-factor/enroll')).json()) as { otpauthUri: string };
    const secret = base32Decode(new URL(enroll.otpauthUri).searchParams.get('secret')!);
    const confirmed = await api.post('/v1/auth/two-factor/enroll/confirm', {
      code: totp(secret, Date.now()),
    });
    expect(confirmed.status(), await confirmed.text()).toBe(200);

    await addPasskey(page, 'Phone');
    await signOut(page, email);
    await page.getByRole('textbox', { name: 'Email' }).fill(email);
    await page.getByRole('textbox', { name: 'Password' }).fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Two-factor authentication' }).waitFor();
    await expectAccessible(page, 'second factor with a passkey offered');
    await screenshots(page, FOLDER, '02-second-factor');
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await page.waitForURL(/\/o\/[a-z0-9-]+\/projects$/);
    expect(problems).toEqual([]);
    await context.close();
  }, 180_000);
});
