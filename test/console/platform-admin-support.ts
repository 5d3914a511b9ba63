import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { connect, testDb } from '../support/tenancy.js';
import { apiAs, newEmail, newPassword, signUpVerified, type ConsoleApp } from './support.js';

/**
 * Signs a new person up through the console, makes them a platform administrator with the owner role
 * (what `saasready admin create` does; the runtime role cannot), then signs them in afresh (through the
 * API, in the page's context) so the session carries the right. The page ends signed in, on their
 * Personal Organization.
 */
export async function signUpPlatformAdmin(
  page: Page,
  c: ConsoleApp,
  seen: Set<string>,
  migrationUrl = testDb().migrationUrl,
): Promise<string> {
  const email = newEmail('platform-admin');
  const password = newPassword();
  await signUpVerified(page, email, password, seen);
  const owner = await connect(migrationUrl);
  try {
    await owner.query('update users set is_platform_admin = true where email_normalized = $1', [email]);
  } finally {
    await owner.end();
  }
  const api = apiAs(page, c);
  expect((await api.post('/v1/auth/logout')).status()).toBeLessThan(300);
  expect((await api.post('/v1/auth/login', { email, password })).status()).toBe(200);
  await page.goto('/');
  await page.waitForURL(/\/o\/[a-z0-9-]+\/projects$/);
  return email;
}
