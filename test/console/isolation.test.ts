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

/** Every screen under `/o/:org/` (web/src/app/routes.tsx). */
const ORG_SCREENS = [
  'projects',
  'members',
  'roles',
  'invitations',
  'api-keys',
  'audit-log',
  'flags',
  'usage',
  'billing',
  'settings',
  'settings/directory-sync',
  'no-such-screen',
];

/**
 * Records the body of every API answer the page receives, to look for another tenant's data in it (the
 * bodies only: the addresses hold the ids the test typed).
 */
function recordAnswers(page: Page): string[] {
  const bodies: string[] = [];
  page.on('response', (res) => {
    if (!new URL(res.url()).pathname.startsWith('/v1/')) return;
    void res
      .text()
      .then((t) => bodies.push(t))
      .catch(() => undefined);
  });
  return bodies;
}

describe('console: isolation in the browser (issue 9, test 4)', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it("a member of A who types B's addresses (slug paths, ids of B's projects, members and invitations) reads 'not found', never B's data", async () => {
    const a = await newContext(browser, c);
    const b = await newContext(browser, c);
    await signUpVerified(a.page, newEmail('tenant-a'), newPassword(), seen);
    const aSlug = new URL(a.page.url()).pathname.split('/')[2]!;
    await signUpVerified(b.page, newEmail('tenant-b'), newPassword(), seen);

    // B's organization with a project, a pending invitation and its members.
    const bApi = apiAs(b.page, c);
    const bSlug = `bee-${Date.now().toString(36)}`;
    const bOrg = await bApi.post('/v1/organizations', { name: 'Bee Corp', slug: bSlug });
    expect(bOrg.status()).toBe(201);
    const bOrgId = ((await bOrg.json()) as { id: string }).id;
    const project = await bApi.post(`/v1/orgs/${bSlug}/projects`, { name: 'Bee secret' });
    expect(project.status()).toBe(201);
    const projectId = ((await project.json()) as { id: string }).id;
    const invitee = newEmail('bee-invitee');
    const invitation = await bApi.post(`/v1/orgs/${bSlug}/invitations`, { email: invitee, role: 'member' });
    expect(invitation.status()).toBe(201);
    const invitationId = ((await invitation.json()) as { id: string }).id;
    const members = (await (await bApi.get(`/v1/orgs/${bSlug}/members`)).json()) as {
      data: { userId: string; email: string }[];
    };
    const bOwner = members.data[0]!;
    // What must never reach A's browser.
    const secrets = ['Bee Corp', 'Bee secret', bOrgId, projectId, invitationId, invitee, bOwner.email];

    const answers = recordAnswers(a.page);
    // B's slug under every screen: the organization itself is not found.
    for (const screen of ORG_SCREENS) {
      await a.page.goto(`/o/${bSlug}/${screen}`);
      await a.page.getByText('Organization not found').waitFor();
    }
    // B's id in place of the slug.
    await a.page.goto(`/o/${bOrgId}/projects`);
    await a.page.getByText('Organization not found').waitFor();
    await expectAccessible(a.page, 'organization not found');
    await screenshots(a.page, 'isolation', '01-organization-not-found');

    // B's project id, under A's own organization and under B's.
    await a.page.goto(`/o/${aSlug}/projects/${projectId}`);
    await a.page.getByText('Project not found').waitFor();
    await expectAccessible(a.page, 'project not found');
    await screenshots(a.page, 'isolation', '02-project-not-found');
    await a.page.goto(`/o/${bSlug}/projects/${projectId}`);
    await a.page.getByText('Organization not found').waitFor();
    // Ids of B's member and invitation where a project id goes (the only id-bearing screen): not found.
    for (const id of [bOwner.userId, invitationId]) {
      await a.page.goto(`/o/${aSlug}/projects/${id}`);
      await a.page.getByText('Project not found').waitFor();
    }

    // The same ids at the API, as A's browser would send them from A's organization: 404 every time.
    const aApi = apiAs(a.page, c);
    for (const path of [
      `/v1/orgs/${aSlug}/projects/${projectId}`,
      `/v1/orgs/${bSlug}/projects/${projectId}`,
      `/v1/orgs/${bSlug}/members`,
      `/v1/orgs/${bSlug}/invitations`,
      `/v1/orgs/${bOrgId}/projects`,
    ]) {
      expect((await aApi.get(path)).status(), path).toBe(404);
    }
    for (const [method, path] of [
      ['patch', `/v1/orgs/${aSlug}/members/${bOwner.userId}`],
      ['delete', `/v1/orgs/${aSlug}/members/${bOwner.userId}`],
      ['delete', `/v1/orgs/${aSlug}/invitations/${invitationId}`],
      ['post', `/v1/orgs/${aSlug}/invitations/${invitationId}/resend`],
      ['delete', `/v1/orgs/${aSlug}/projects/${projectId}`],
    ] as const) {
      const res =
        method === 'patch'
          ? await aApi.patch(path, { role: 'member' })
          : method === 'delete'
            ? await aApi.delete(path)
            : await aApi.post(path);
      expect(res.status(), `${method} ${path}`).toBe(404);
    }

    // The switcher lists A's organization only.
    await a.page.goto(`/o/${aSlug}/projects`);
    await a.page.getByRole('combobox', { name: 'Organization' }).click();
    const options = await a.page.getByRole('option').allTextContents();
    expect(options.length).toBe(1);
    expect(options.join(' ')).not.toContain('Bee');

    // Nothing of B in any page of A, nor in any answer A's browser received.
    expect(await a.page.content()).not.toContain('Bee');
    await expect.poll(() => answers.length).toBeGreaterThan(ORG_SCREENS.length);
    for (const secret of secrets) {
      const leaked = answers.filter((t) => t.includes(secret));
      expect(leaked, `B's ${secret} reached A's browser`).toEqual([]);
    }
    // B's project is still there for B.
    expect((await bApi.get(`/v1/orgs/${bSlug}/projects/${projectId}`)).status()).toBe(200);
    for (const ctx of [a, b]) expect(ctx.problems).toEqual([]);
    await Promise.all([a.context.close(), b.context.close()]);
  }, 180_000);
});
