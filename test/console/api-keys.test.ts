import type { Browser, Page } from 'playwright-core';
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

import { allPermissions } from '../../src/platform/authz/permissions.js';

const seen = new Set<string>();

/** The Idempotency-Key of the next key creation the page sends (and the request's answer status). */
async function nextCreate(page: Page, click: () => Promise<void>) {
  const [request] = await Promise.all([
    page.waitForRequest((r) => r.method() === 'POST' && /\/api-keys$/.test(new URL(r.url()).pathname)),
    click(),
  ]);
  const response = await request.response();
  return { key: request.headers()['idempotency-key'], status: response?.status() };
}

describe('console: API keys in Chromium (the issue’s test 3)', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('create with projects:read, copy the secret once, call the API with it, revoke, the call fails; the audit log shows both', async () => {
    const { context, page, problems } = await newContext(browser, c);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: c.origin });
    await signUpVerified(page, newEmail('keys'), newPassword(), seen);
    const slug = new URL(page.url()).pathname.split('/')[2]!;

    await page
      .getByRole('navigation', { name: 'Organization' })
      .getByRole('link', { name: 'API keys' })
      .click();
    await page.getByText('No API keys yet').waitFor();
    await expectAccessible(page, 'API keys (empty)');
    await screenshots(page, 'api-keys', '01-empty');

    // The form: the owner is offered every permission; the form itself asks for a scope first.
    await page.getByRole('button', { name: 'New API key' }).click();
    const dialog = page.getByRole('dialog', { name: 'New API key' });
    await dialog.getByRole('textbox', { name: 'Name' }).fill('CI');
    // The owner may give a key any permission: one checkbox each.
    expect(await dialog.getByRole('checkbox').count()).toBe(allPermissions.length);
    await dialog.getByRole('button', { name: 'Create key' }).click();
    await dialog.getByText('Choose at least one scope').waitFor();
    await dialog.getByRole('checkbox', { name: 'projects:read' }).check();

    // A date in the past: the server's refusal is drawn next to the date field. Submitting the same
    // draft again is a retry: the same Idempotency-Key.
    await dialog.getByRole('combobox', { name: 'Expires' }).click();
    await page.getByRole('option', { name: 'On a date…' }).click();
    const date = dialog.getByLabel('Expiry date');
    await date.fill('2020-01-01');
    const first = await nextCreate(page, () => dialog.getByRole('button', { name: 'Create key' }).click());
    expect(first.status).toBe(400);
    expect(first.key).toMatch(/^console-[0-9a-f]{32}$/);
    await expect.poll(() => date.getAttribute('aria-invalid')).toBe('true');
    await dialog.getByText('expiresAt must be a date-time in the future').waitFor();
    await expectAccessible(page, 'new API key form with a field error');
    await screenshots(page, 'api-keys', '02-form-error');
    const again = await nextCreate(page, () => dialog.getByRole('button', { name: 'Create key' }).click());
    expect(again.key).toBe(first.key);

    // A valid draft is a new request: a new Idempotency-Key.
    await dialog.getByRole('combobox', { name: 'Expires' }).click();
    await page.getByRole('option', { name: 'In 30 days' }).click();
    await dialog.getByRole('textbox', { name: /Rate limit/ }).fill('120');
    const created = await nextCreate(page, () => dialog.getByRole('button', { name: 'Create key' }).click());
    expect(created.status).toBe(201);
    expect(created.key).not.toBe(first.key);

    // The secret, once, with a copy button and the warning.
    const secretDialog = page.getByRole('dialog', { name: 'Copy your new API key' });
    await secretDialog.getByText('This is the only time the key is shown').waitFor();
    const shown = await secretDialog.getByRole('textbox', { name: 'API key “CI”' }).inputValue();
    expect(shown).toMatch(/^srk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    await secretDialog.getByRole('button', { name: 'Copy', exact: true }).click();
    await secretDialog.getByRole('button', { name: 'Copied', exact: true }).waitFor();
    const secret = await page.evaluate(() => navigator.clipboard.readText());
    expect(secret).toBe(shown);
    await expectAccessible(page, 'the new key’s secret');
    await screenshots(page, 'api-keys', '03-secret');
    await secretDialog.getByRole('button', { name: 'I have copied it' }).click();
    await secretDialog.waitFor({ state: 'hidden' });
    // Nothing of the secret stays in the page or the browser's storage.
    expect(await page.content()).not.toContain(secret);
    const stored = await page.evaluate(
      () => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
    );
    // The random part (after `srk_<id>_`; it may itself contain `_`).
    expect(stored).not.toContain(secret.slice('srk_'.length + 16 + 1));

    // The key works, from outside the browser.
    const call = () => fetch(`${c.base}/v1/projects`, { headers: { authorization: `Bearer ${secret}` } });
    const ok = await call();
    expect(ok.status).toBe(200);
    expect(ok.headers.get('ratelimit-limit')).toBe('120');

    // The list: name, prefix, scopes, dates, status.
    const keyId = secret.split('_')[1]!;
    const row = page.getByRole('row', { name: /CI/ });
    await row.getByText(`srk_${keyId}_…`).waitFor();
    await row.getByText('projects:read').waitFor();
    await row.getByText('active').waitFor();
    await row.getByText('120 requests/min').waitFor();
    await expectAccessible(page, 'API keys (one)');
    await screenshots(page, 'api-keys', '04-list');

    // Revoke, after confirmation.
    await page.getByRole('button', { name: 'Revoke CI' }).click();
    const confirm = page.getByRole('dialog', { name: 'Revoke API key' });
    await confirm.getByText(`srk_${keyId}_…`).waitFor();
    await expectAccessible(page, 'revoke confirmation');
    await screenshots(page, 'api-keys', '05-revoke-confirm');
    await confirm.getByRole('button', { name: 'Revoke key' }).click();
    await confirm.waitFor({ state: 'hidden' });
    await row.getByText('revoked').waitFor();
    expect(await page.getByRole('button', { name: 'Revoke CI' }).count()).toBe(0);
    const refused = await call();
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('API_KEY_REVOKED');

    // The audit log: both entries, and the chain intact.
    await page
      .getByRole('navigation', { name: 'Organization' })
      .getByRole('link', { name: 'Audit log' })
      .click();
    await page.waitForURL(`**/o/${slug}/audit-log`);
    await page.getByRole('button', { name: /^api_key\.revoked\s*, details of entry \d+$/ }).waitFor();
    await page.getByRole('button', { name: /^api_key\.created\s*, details of entry \d+$/ }).waitFor();
    await page.getByRole('cell', { name: 'api_key “CI”' }).first().waitFor();
    await page.getByText(/^Chain intact \(\d+ entries\)$/).waitFor();
    await expectAccessible(page, 'audit log after the key');
    await screenshots(page, 'api-keys', '06-audit-log');
    expect(problems).toEqual([]);
    await context.close();
  }, 120_000);

  it('a member is offered only the scopes their role holds', async () => {
    const owner = await newContext(browser, c);
    await signUpVerified(owner.page, newEmail('keys-owner'), newPassword(), seen);
    const api = apiAs(owner.page, c);
    const slug = `keys-${Date.now().toString(36)}`;
    expect((await api.post('/v1/organizations', { name: 'Keys Inc', slug })).status()).toBe(201);
    const role = {
      key: 'keymaster',
      name: 'Key master',
      // members:read: the console reads a custom role's permissions from GET /v1/orgs/{org}/roles.
      permissions: ['org:read', 'members:read', 'projects:read', 'api_keys:manage'],
    };
    expect((await api.post(`/v1/orgs/${slug}/roles`, role)).status()).toBe(201);

    const member = await newContext(browser, c);
    const email = newEmail('keys-member');
    await signUpVerified(member.page, email, newPassword(), seen);
    expect((await api.post(`/v1/orgs/${slug}/invitations`, { email, role: 'keymaster' })).status()).toBe(201);
    const token = new URL(await mailedLink(email, 'accept-invitation', seen)).searchParams.get('token');
    expect((await apiAs(member.page, c).post('/v1/invitations/accept', { token })).status()).toBe(200);

    await member.page.goto(`/o/${slug}/api-keys`);
    // A cold load: the organizations, the custom role's permissions and the organization gate first.
    await member.page.getByRole('heading', { name: 'API keys' }).waitFor({ timeout: 30_000 });
    await member.page.getByRole('button', { name: 'New API key' }).click();
    const dialog = member.page.getByRole('dialog', { name: 'New API key' });
    await dialog.getByRole('checkbox', { name: 'projects:read' }).waitFor();
    const offered = await dialog
      .getByRole('checkbox')
      .evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value));
    expect(offered.sort()).toEqual([...role.permissions].sort());
    await expectAccessible(member.page, 'new API key form (custom role)');
    await screenshots(member.page, 'api-keys', '07-custom-role-scopes');
    // The audit log is not in this role's navigation; typed in, the page says why it shows nothing.
    const nav = member.page.getByRole('navigation', { name: 'Organization' });
    expect(await nav.getByRole('link', { name: 'Audit log' }).count()).toBe(0);
    await member.page.goto(`/o/${slug}/audit-log`);
    await member.page.getByText('Your role cannot read the audit log').waitFor();
    await expectAccessible(member.page, 'audit log refused to the role');
    for (const ctx of [owner, member]) expect(ctx.problems).toEqual([]);
    await Promise.all([owner.context.close(), member.context.close()]);
  }, 120_000);
});
