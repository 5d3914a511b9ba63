import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { signUpPlatformAdmin } from './platform-admin-support.js';
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

describe('console: feature flags of an organization in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('a multivariate flag with a rule defined on screen; overrides set and removed; a 409 explained', async () => {
    const stamp = randomBytes(4).toString('hex');
    const bool = `console.ov-bool-${stamp}`;
    const multi = `console.ov-multi-${stamp}`;
    const locked = `console.locked-${stamp}`;
    const admin = await newContext(browser, c);
    const owner = await newContext(browser, c);
    await signUpPlatformAdmin(admin.page, c, seen);
    await signUpVerified(owner.page, newEmail('flags-owner'), newPassword(), seen);
    const adminApi = apiAs(admin.page, c);
    for (const body of [
      {
        key: bool,
        kind: 'boolean',
        defaultValue: false,
        allowOrgOverride: true,
        description: 'New checkout',
      },
      { key: locked, kind: 'boolean', defaultValue: true },
    ]) {
      expect((await adminApi.post('/v1/platform/flags', body)).status()).toBe(201);
    }

    // The multivariate flag, through the definition form: two variants, a rule for a plan, overridable.
    const a = admin.page;
    await a.goto('/admin/flags');
    await a.getByRole('button', { name: 'New flag' }).click();
    const form = a.getByRole('dialog', { name: 'New feature flag' });
    await form.getByRole('textbox', { name: 'Key' }).fill(multi);
    await form.getByRole('radio', { name: 'Multivariate (variants)' }).check();
    await form.getByRole('textbox', { name: 'Variant 1 key' }).fill('small');
    await form.getByRole('textbox', { name: 'Variant 1 value (JSON)' }).fill('"s"');
    await form.getByRole('textbox', { name: 'Variant 2 key' }).fill('large');
    await form.getByRole('textbox', { name: 'Variant 2 value (JSON)' }).fill('l');
    await form.getByRole('checkbox', { name: /^Organizations may override it/ }).check();
    await form.getByRole('button', { name: 'Add rule' }).click();
    await form.getByLabel('Rule 1: plans', { exact: true }).fill('enterprise');
    await form.getByLabel('Rule 1: plans', { exact: true }).press('Enter');
    await pick(a, 'Rule 1: value', 'large');
    await form.getByRole('button', { name: 'Create flag' }).click();
    // `l` is not JSON (a string needs quotes): said next to the variants, nothing sent.
    await form.getByRole('alert').filter({ hasText: 'Variant 2 (large)' }).waitFor();
    await expectAccessible(a, 'flag form with a variant error');
    await screenshots(a, 'flags', '01-definition-error');
    await form.getByRole('textbox', { name: 'Variant 2 value (JSON)' }).fill('"l"');
    await form.getByRole('button', { name: 'Create flag' }).click();
    await form.waitFor({ state: 'hidden' });
    const stored = (await (await adminApi.get(`/v1/platform/flags/${multi}`)).json()) as Record<
      string,
      unknown
    >;
    expect(stored).toMatchObject({
      kind: 'multivariate',
      variants: [
        { key: 'small', value: 's' },
        { key: 'large', value: 'l' },
      ],
      defaultValue: 's',
      allowOrgOverride: true,
      rules: [{ plans: ['enterprise'], value: 'l' }],
      rollout: null,
    });

    // The owner's flags page: values and reasons; overrides only where the flag allows them.
    const p = owner.page;
    const slug = new URL(p.url()).pathname.split('/')[2]!;
    await p.goto(`/o/${slug}/flags`);
    await p.getByRole('textbox', { name: 'Filter flags' }).fill(stamp);
    await p.getByText(/^3 (of \d+ )?flags$/).waitFor();
    const row = (key: string) => p.getByRole('row').filter({ hasText: key });
    await row(locked).getByText('Not overridable').waitFor();
    await row(multi).getByText('Default', { exact: true }).waitFor();
    await expectAccessible(p, 'flags page');
    await screenshots(p, 'flags', '02-flags');

    await p.getByRole('button', { name: `Override ${bool}` }).click();
    const dialog = p.getByRole('dialog', { name: `Override ${bool}` });
    await dialog.getByText('New checkout').waitFor();
    await dialog.getByRole('switch').check();
    await expectAccessible(p, 'override form');
    await screenshots(p, 'flags', '03-override');
    await dialog.getByRole('button', { name: 'Save override' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await row(bool).getByText('Override', { exact: true }).waitFor();
    await row(bool).getByRole('cell', { name: 'on', exact: true }).waitFor();

    await p.getByRole('button', { name: `Override ${multi}` }).click();
    const choose = p.getByRole('dialog', { name: `Override ${multi}` });
    await pick(p, 'Variant', 'large (l)');
    await choose.getByRole('button', { name: 'Save override' }).click();
    await choose.waitFor({ state: 'hidden' });
    await row(multi).getByRole('cell', { name: 'l (large)', exact: true }).waitFor();

    await p.getByRole('button', { name: `Remove override of ${bool}` }).click();
    await row(bool).getByText('Default', { exact: true }).waitFor();
    await row(bool).getByRole('cell', { name: 'off', exact: true }).waitFor();

    // The platform stops allowing overrides of the multivariate flag while its form is open: 409, explained.
    await p.getByRole('button', { name: `Override ${multi}` }).click();
    const late = p.getByRole('dialog', { name: `Override ${multi}` });
    await late.getByRole('button', { name: 'Save override' }).waitFor();
    const version = (stored as { version: number }).version;
    expect(
      (await adminApi.patch(`/v1/platform/flags/${multi}`, { allowOrgOverride: false, version })).status(),
    ).toBe(200);
    await late.getByRole('button', { name: 'Save override' }).click();
    await late.getByRole('alert').filter({ hasText: 'Overrides are not allowed for this flag' }).waitFor();
    await expectAccessible(p, 'override refused');
    await screenshots(p, 'flags', '04-override-refused');
    await late.getByRole('button', { name: 'Cancel' }).click();
    // The override the organization set is kept but no longer applied; it can still be removed.
    await row(multi).getByText('Kept but not applied').waitFor();
    await row(multi).getByRole('cell', { name: 's (small)', exact: true }).waitFor();
    await p.getByRole('button', { name: `Remove override of ${multi}` }).click();
    await row(multi).getByText('Not overridable').waitFor();

    for (const key of [bool, multi, locked]) {
      expect((await adminApi.delete(`/v1/platform/flags/${key}`)).status()).toBe(204);
    }
    for (const ctx of [admin, owner]) expect(ctx.problems).toEqual([]);
    await Promise.all([admin.context.close(), owner.context.close()]);
  }, 90_000);
});

/** Chooses `option` in the Mantine Select labelled `label`. */
async function pick(page: Page, label: string, option: string): Promise<void> {
  await page.getByLabel(label, { exact: true }).first().click();
  await page.getByRole('option', { name: option, exact: true }).click();
}
