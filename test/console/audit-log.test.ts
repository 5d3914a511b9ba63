import { readFile } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
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

/** The buttons that open an entry (one per row), by their action. */
const entries = (page: Page, action: RegExp = /[a-z_.]+/) =>
  page.getByRole('button', { name: new RegExp(`^${action.source}\\s*, details of entry \\d+$`) });

/** Downloads what the link points at, by clicking it; returns the file's name and text. */
async function download(page: Page, name: string) {
  const [file] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name }).click()]);
  return { filename: file.suggestedFilename(), text: await readFile(await file.path(), 'utf8') };
}

describe('console: the audit log in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('filters (in the URL), cursor paging, JSONL and CSV export, entry details, checkpoints, the intact badge', async () => {
    const { context, page, problems } = await newContext(browser, c);
    await signUpVerified(page, newEmail('audit'), newPassword(), seen);
    const slug = new URL(page.url()).pathname.split('/')[2]!;

    // 30 entries: the organization (1), 24 projects (2-25), one renamed (26) and one deleted (27), a
    // custom role (28), an API key (29), and a project created with that key (30).
    const api = apiAs(page, c);
    const ids: string[] = [];
    for (let i = 1; i <= 24; i++) {
      const res = await api.post(`/v1/orgs/${slug}/projects`, { name: `P${i}` });
      expect(res.status()).toBe(201);
      ids.push(((await res.json()) as { id: string }).id);
    }
    expect((await api.patch(`/v1/orgs/${slug}/projects/${ids[0]}`, { name: 'P1 renamed' })).status()).toBe(
      200,
    );
    expect((await api.delete(`/v1/orgs/${slug}/projects/${ids[1]}`)).status()).toBe(204);
    const role = { key: 'auditor', name: 'Auditor', permissions: ['org:read', 'audit:read'] };
    expect((await api.post(`/v1/orgs/${slug}/roles`, role)).status()).toBe(201);
    const key = await api.post(`/v1/orgs/${slug}/api-keys`, { name: 'robot', scopes: ['projects:create'] });
    expect(key.status()).toBe(201);
    const { secret } = (await key.json()) as { secret: string };
    const byKey = await fetch(`${c.base}/v1/projects`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Made by a key' }),
    });
    expect(byKey.status).toBe(201);

    await page
      .getByRole('navigation', { name: 'Organization' })
      .getByRole('link', { name: 'Audit log' })
      .click();
    await page.getByText('Chain intact (30 entries)').waitFor();
    // Checkpoints: none yet; sign one now; a second request has nothing new to sign.
    await page.getByText('No checkpoints yet').waitFor();
    await page.getByRole('button', { name: 'Create checkpoint' }).click();
    const checkpoints = page.getByRole('region', { name: 'Checkpoints' });
    await checkpoints.getByRole('cell', { name: '30', exact: true }).waitFor();
    const keyId = await checkpoints.locator('tbody tr td:nth-child(3)').textContent();
    const published = (await (await fetch(`${c.base}/v1/audit-logs/public-key`)).json()) as { keyId: string };
    expect(keyId).toBe(published.keyId);
    await page.getByRole('button', { name: 'Create checkpoint' }).click();
    await page.getByText('Nothing new to sign: the latest checkpoint already covers seq 30').waitFor();
    // The new checkpoint is verified with the chain.
    await page.getByText('1 checkpoint signature checked', { exact: false }).waitFor();
    await page.getByText('Chain intact (30 entries)').waitFor();
    // The README's audit-log screenshot: the intact badge, a page of entries, a signed checkpoint.
    const closers = page.getByRole('button', { name: 'Close notification' });
    // A notification may close by itself between the count and the click: a short, forgiving click.
    while ((await closers.count()) > 0) {
      await closers
        .first()
        .click({ timeout: 2_000 })
        .catch(() => undefined);
    }
    await expectAccessible(page, 'audit log (30 entries, a checkpoint)');
    await screenshots(page, 'audit-log', '01-audit-log');

    // Cursor paging: 20 a page, newest first.
    await page.getByRole('button', { name: 'Load more' }).waitFor();
    expect(await entries(page).count()).toBe(20);
    expect(await entries(page).first().textContent()).toMatch(/^project\.created/);
    await page.getByRole('button', { name: 'Load more' }).click();
    await expect.poll(() => entries(page).count()).toBe(30);
    expect(await page.getByRole('button', { name: 'Load more' }).count()).toBe(0);

    // A filter the server refuses: its message next to the field.
    const action = page.getByRole('combobox', { name: 'Action' });
    await action.fill('Not An Action!');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect
      .poll(() => page.getByRole('combobox', { name: 'Action' }).getAttribute('aria-invalid'))
      .toBe('true');
    await page.getByText('These filters are not valid').waitFor();
    await expectAccessible(page, 'audit log with a refused filter');
    await screenshots(page, 'audit-log', '02-filter-error');

    // action project.* narrows the table (and keeps paging): 27 entries, in the URL.
    await page.getByRole('combobox', { name: 'Action' }).fill('project.*');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL((u) => u.searchParams.get('action') === 'project.*');
    await page.getByText('Filters (1 applied)').waitFor();
    await page.getByRole('button', { name: 'Load more' }).waitFor();
    expect(await entries(page).count()).toBe(20);
    await page.getByRole('button', { name: 'Load more' }).click();
    await expect.poll(() => entries(page).count()).toBe(27);
    expect(await entries(page, /project\.[a-z]+/).count()).toBe(27);
    expect(await entries(page, /project\.updated/).count()).toBe(1);
    expect(await entries(page, /project\.deleted/).count()).toBe(1);

    // The filtered view is a URL to share: opened afresh, it shows the same.
    await page.reload();
    await page.getByRole('button', { name: 'Load more' }).waitFor();
    expect(await page.getByRole('combobox', { name: 'Action' }).inputValue()).toBe('project.*');
    expect(await entries(page, /project\.[a-z]+/).count()).toBe(20);

    // Both exports download the filtered view, with the session cookie (plain links).
    const jsonl = await download(page, 'Export JSONL');
    expect(jsonl.filename).toBe('audit-log.jsonl');
    const lines = jsonl.text.trim().split('\n');
    expect(lines).toHaveLength(27);
    const firstLine = JSON.parse(lines[0]!) as { seq: number; action: string };
    expect(firstLine).toMatchObject({ seq: 2, action: 'project.created' });
    const csv = await download(page, 'Export CSV');
    expect(csv.filename).toBe('audit-log.csv');
    expect(csv.text.split('\r\n')[0]).toBe(
      'seq,id,occurred_at,actor_type,actor_id,action,target_type,target_id,ip,user_agent,request_id,changes,metadata,prev_hash,hash',
    );
    expect(csv.text.trim().split('\r\n')).toHaveLength(28);
    for (const [name, type] of [
      ['Export JSONL', 'application/jsonl; charset=utf-8'],
      ['Export CSV', 'text/csv; charset=utf-8'],
    ] as const) {
      const href = (await page.getByRole('link', { name }).getAttribute('href'))!;
      expect(href).toContain(`/v1/orgs/${slug}/audit-logs/export?`);
      expect(new URL(href, c.origin).searchParams.get('action')).toBe('project.*');
      // The browser's own cookies, no Origin header: a plain GET, as the link makes it.
      const res = await context.request.get(new URL(href, c.origin).toString());
      expect(res.status()).toBe(200);
      expect(res.headers()['content-type']).toBe(type);
    }
    await expectAccessible(page, 'audit log filtered by action');
    await screenshots(page, 'audit-log', '03-filtered');

    // Actor type api_key: the one project the key created. Its details name the key and the project.
    await page.getByRole('combobox', { name: 'Action' }).fill('');
    await page.getByRole('combobox', { name: 'Actor type' }).click();
    await page.getByRole('option', { name: 'API key' }).click();
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL(
      (u) => u.searchParams.get('actorType') === 'api_key' && !u.searchParams.has('action'),
    );
    await expect.poll(() => entries(page).count()).toBe(1);
    await entries(page, /project\.created/).click();
    const drawer = page.getByRole('dialog', { name: /^Entry 30: project\.created$/ });
    await drawer.getByText('"name": "Made by a key"', { exact: false }).waitFor();
    await expectAccessible(page, 'an entry’s details');
    await screenshots(page, 'audit-log', '04-entry-details');

    // "Only this target": the view narrows to that project's entries.
    await drawer.getByRole('button', { name: 'Only this target' }).click();
    await page.waitForURL(
      (u) => u.searchParams.get('targetType') === 'project' && u.searchParams.has('targetId'),
    );
    await expect.poll(() => entries(page).count()).toBe(1);

    // No match: the empty state offers to clear the filters.
    // (The form is drawn again from the URL's filters: wait for it before typing.)
    await expect.poll(() => page.getByRole('textbox', { name: 'Target type' }).inputValue()).toBe('project');
    await page.getByRole('textbox', { name: 'Target id' }).fill('no-such-thing');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('No entries match these filters').waitFor();
    await expectAccessible(page, 'audit log, no match');
    await page.getByRole('button', { name: 'Clear filters' }).last().click();
    await page.waitForURL((u) => u.search === '');
    await expect.poll(() => entries(page).count()).toBe(20);

    // A broken chain (the database cannot be rewritten from here: the verification's answer is
    // replaced in the browser) reads red, with the seq, the reason and what it means.
    await page.route('**/audit-logs/verify', (route) =>
      route.fulfill({
        json: {
          organizationId: '00000000-0000-0000-0000-000000000000',
          valid: false,
          entriesChecked: 30,
          lastSeq: 30,
          headHash: '00',
          checkpointsChecked: 1,
          checkpointsUnverifiable: 0,
          firstBrokenSeq: 12,
          reason: 'hash_mismatch',
          detail: null,
          breaks: [
            { seq: 12, reason: 'hash_mismatch', detail: 'entry 12 was changed after it was written' },
            { seq: 20, reason: 'missing_entry', detail: 'expected seq 20, found 21' },
          ],
          breaksTruncated: false,
          unsealed: { count: 2, oldestOccurredAt: new Date().toISOString() },
        },
      }),
    );
    await page.getByRole('button', { name: 'Verify again' }).click();
    await page.getByText('Broken at seq 12: hash_mismatch').waitFor();
    await page.getByText('an entry’s content was changed after it was written', { exact: false }).waitFor();
    // Every later break too: the first one hides none.
    await page.getByText(/^Also broken at seq 20 \(missing_entry\)/).waitFor();
    // Events committed while it ran are counted, not hidden.
    await page.getByText(/^2 events recorded since .* not sealed into the chain yet/).waitFor();
    await expectAccessible(page, 'audit log, broken chain');
    await screenshots(page, 'audit-log', '05-broken');
    await page.unroute('**/audit-logs/verify');
    await page.getByRole('button', { name: 'Verify again' }).click();
    await page.getByText('Chain intact (30 entries)').waitFor();

    // The system's dark scheme: the same screen, still readable.
    await page.emulateMedia({ colorScheme: 'dark' });
    await expect.poll(() => page.locator('html').getAttribute('data-mantine-color-scheme')).toBe('dark');
    await expectAccessible(page, 'audit log (dark)');
    await screenshots(page, 'audit-log', '06-dark');
    expect(problems).toEqual([]);
    await context.close();
  }, 120_000);
});
