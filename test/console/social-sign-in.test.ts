import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOidcIdp, type OidcIdp } from '../support/oidc-idp.js';
import {
  expectAccessible,
  launchChromium,
  newContext,
  newEmail,
  screenshots,
  startConsoleApp,
  stopConsoleApp,
  type ConsoleApp,
} from './support.js';

describe('console: social sign-in in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  let idp: OidcIdp & { allowRedirects(uris: string[]): void };

  beforeAll(async () => {
    idp = await startOidcIdp();
    c = await startConsoleApp({
      socialSignIn: {
        providers: [
          {
            kind: 'oidc',
            id: 'google',
            label: 'Google',
            clientId: idp.clientId,
            clientSecret: idp.clientSecret,
            scopes: ['openid', 'email', 'profile'],
            issuer: idp.issuer,
          },
        ],
      },
    });
    idp.allowRedirects([`${c.base}/v1/auth/social/google/callback`]);
    browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await stopConsoleApp(c);
    await idp?.close();
  });

  it('Continue with Google: the provider’s login, back in the console, the linked account on the account page', async () => {
    const { context, page, problems } = await newContext(browser, c);
    const email = newEmail('social');
    idp.accounts.set('grace', { email, email_verified: true, name: 'Grace Social' });

    await page.goto('/sign-in');
    const button = page.getByRole('link', { name: 'Continue with Google' });
    await button.waitFor();
    await expectAccessible(page, 'sign-in with providers');
    await screenshots(page, 'social-sign-in', '01-sign-in');
    await button.click();

    // The provider's own login and consent pages.
    await page.waitForURL(`${idp.issuer}/**`);
    await page.locator('input[name="login"]').fill('grace');
    await page.locator('input[name="password"]').fill('any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();

    // Back in the console, signed in, in the new Personal Organization.
    await page.waitForURL(`${c.base}/o/**`);
    await page.getByRole('heading', { name: 'Projects' }).waitFor();

    await page.goto('/account');
    const section = page.getByRole('region', { name: 'Linked accounts' });
    await section.getByText(email).waitFor();
    await expectAccessible(page, 'account with a linked account');
    await screenshots(page, 'social-sign-in', '02-linked-accounts');
    // The only way in (no password): unlinking is refused, and the dialog says why.
    await section.getByRole('button', { name: `Unlink Google (${email})` }).click();
    const dialog = page.getByRole('dialog', { name: 'Unlink an account' });
    await dialog.getByRole('button', { name: 'Unlink' }).click();
    await dialog.getByRole('alert').filter({ hasText: 'this is your only way to sign in' }).waitFor();
    expect(problems).toEqual([]);
    await context.close();
  }, 120_000);

  it('a refused sign-in comes back to the sign-in page with the reason', async () => {
    const { context, page } = await newContext(browser, c);
    await page.goto('/v1/auth/social/google/callback?code=x&state=forged');
    await page.waitForURL('**/sign-in?error=SOCIAL_STATE_INVALID');
    await page.getByRole('alert').filter({ hasText: 'expired or was already used' }).waitFor();
    await expectAccessible(page, 'sign-in after a refused provider sign-in');
    await context.close();
  }, 60_000);
});
