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

const seen = new Set<string>();
const folder = 'members';

// The two tests run side by side (each its own organization and browser contexts): much of their time is
// spent waiting for mail and the server, not for the CPU. Concurrent tests use their own `expect`.
describe('console: members, custom roles and invitations in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  /** An owner, signed in through the console, of a new organization named `name`. */
  async function ownerOf(name: string) {
    const ctx = await newContext(browser, c);
    const email = newEmail('owner');
    await signUpVerified(ctx.page, email, newPassword(), seen);
    const api = apiAs(ctx.page, c);
    const slug = `${name.toLowerCase()}-${Date.now().toString(36)}`;
    const created = await api.post('/v1/organizations', { name, slug });
    expect(created.status()).toBe(201);
    // Up to four people in one organization: on a plan without the free plan's three-seat limit.
    const { id } = (await created.json()) as { id: string };
    await c.tenancy.withTenant(id, (db) =>
      db.updateTable('organizations').set({ plan: 'enterprise' }).where('id', '=', id).execute(),
    );
    return { ...ctx, email, api, slug };
  }

  /** A new account that joins through an invitation (register-and-accept, over the API), in its own browser. */
  async function joins(owner: Awaited<ReturnType<typeof ownerOf>>, prefix: string, role: string) {
    const email = newEmail(prefix);
    const invited = await owner.api.post(`/v1/orgs/${owner.slug}/invitations`, { email, role });
    expect(invited.status(), await invited.text()).toBe(201);
    const token = new URL(await mailedLink(email, 'accept-invitation', seen)).searchParams.get('token');
    const ctx = await newContext(browser, c);
    const joined = await apiAs(ctx.page, c).post('/v1/invitations/accept-new', {
      token,
      password: newPassword(),
    });
    expect(joined.status(), await joined.text()).toBe(201);
    return { ...ctx, email };
  }

  const rowOf = (page: Page, text: string) => page.getByRole('row').filter({ hasText: text });

  it.concurrent(
    'custom roles: create (field error next to the key), edit, assign, refused delete while held, delete; remove; last owner explained; transfer ownership by typed slug; an admin cannot grant what they lack; leave',
    async ({ expect }) => {
      const owner = await ownerOf('Globex');
      const { page, slug } = owner;
      const [bob, carol, dave] = await Promise.all([
        joins(owner, 'bob', 'member'),
        joins(owner, 'carol', 'member'),
        joins(owner, 'dave', 'viewer'),
      ]);

      // Roles: the built-in ones, read-only; none of the organization's own yet.
      await page.goto(`/o/${slug}/roles`);
      await page.getByRole('heading', { name: 'Roles' }).waitFor();
      await rowOf(page, 'viewer').getByText('members:read').waitFor();
      await page.getByText('No custom roles yet').waitFor();
      expect(await page.getByRole('button', { name: /^(Edit|Delete) / }).count()).toBe(0);
      await expectAccessible(page, 'roles (built-in only)');
      await screenshots(page, folder, '01-roles');

      // Create: the server's refusal of the key is drawn next to the Key field.
      await page.getByRole('button', { name: 'New role' }).click();
      const create = page.getByRole('dialog', { name: 'New role' });
      await create.getByRole('textbox', { name: 'Key' }).fill('QA lead');
      await create.getByRole('textbox', { name: 'Name' }).fill('QA lead');
      for (const [group, action] of [
        ['Projects', 'read'],
        ['Projects', 'create'],
        ['Members', 'read'],
      ]) {
        await create
          .getByRole('group', { name: group })
          .getByRole('checkbox', { name: action, exact: true })
          .check();
      }
      await create.getByRole('button', { name: 'Create role' }).click();
      const key = create.getByRole('textbox', { name: 'Key' });
      await expect.poll(() => key.getAttribute('aria-invalid'), { timeout: 10_000 }).toBe('true');
      await create.getByText(/key must be 2-40 lowercase letters/).waitFor();
      await expectAccessible(page, 'new role with a field error');
      await screenshots(page, folder, '02-role-field-error');
      await key.fill('qa_lead');
      await create.getByRole('button', { name: 'Create role' }).click();
      await create.waitFor({ state: 'hidden' });
      await rowOf(page, 'qa_lead').getByText('projects:create').waitFor();

      // Edit: another name, one more permission.
      await page.getByRole('button', { name: 'Edit QA lead' }).click();
      const edit = page.getByRole('dialog', { name: 'Edit role' });
      expect(await edit.getByRole('textbox', { name: 'Key' }).isDisabled()).toBe(true);
      await edit.getByRole('textbox', { name: 'Name' }).fill('QA lead (edited)');
      await edit
        .getByRole('group', { name: 'Projects' })
        .getByRole('checkbox', { name: 'update', exact: true })
        .check();
      await edit.getByRole('button', { name: 'Save' }).click();
      await edit.waitFor({ state: 'hidden' });
      await rowOf(page, 'qa_lead').getByText('projects:update').waitFor();
      await rowOf(page, 'qa_lead').getByText('QA lead (edited)').waitFor();

      // Assign it to Bob on the Members screen.
      const changeRole = async (email: string, option: string) => {
        await page.getByRole('button', { name: `Change role of ${email}` }).click();
        const dialog = page.getByRole('dialog', { name: 'Change role' });
        await dialog.getByRole('combobox', { name: 'New role' }).click();
        await page.getByRole('option', { name: option, exact: true }).click();
        await dialog.getByRole('button', { name: 'Change role' }).click();
        await dialog.waitFor({ state: 'hidden' });
      };
      await page
        .getByRole('navigation', { name: 'Organization' })
        .getByRole('link', { name: 'Members' })
        .click();
      await page.getByRole('cell', { name: bob.email, exact: true }).waitFor();
      await changeRole(bob.email, 'QA lead (edited) (qa_lead)');
      await rowOf(page, bob.email).getByRole('cell', { name: 'QA lead (edited)', exact: true }).waitFor();

      // Deleting a role someone holds: the server's refusal, and the rule.
      const deleteRole = async () => {
        await page.goto(`/o/${slug}/roles`);
        await page.getByRole('button', { name: 'Delete QA lead (edited)' }).click();
        const dialog = page.getByRole('dialog', { name: 'Delete role' });
        await dialog.getByRole('button', { name: 'Delete' }).click();
        return dialog;
      };
      const refused = await deleteRole();
      await refused.getByText('1 member(s) hold this role').waitFor();
      await refused.getByText('A custom role can only be deleted when nobody holds it').waitFor();
      await expectAccessible(page, 'role in use');
      await screenshots(page, folder, '03-role-in-use');
      await refused.getByRole('button', { name: 'Cancel' }).click();

      // Bob gets a built-in role back (over the API: the screen did it above); the role can go.
      const list = (await (await owner.api.get(`/v1/orgs/${slug}/members`)).json()) as {
        data: { userId: string; email: string }[];
      };
      const bobId = list.data.find((m) => m.email === bob.email)!.userId;
      expect((await owner.api.patch(`/v1/orgs/${slug}/members/${bobId}`, { role: 'member' })).status()).toBe(
        200,
      );
      const deleted = await deleteRole();
      await deleted.waitFor({ state: 'hidden' });
      await page.getByText('No custom roles yet').waitFor();

      // A viewer sees the members but may change nobody; no Invitations screen.
      await dave.page.goto(`/o/${slug}/members`);
      await dave.page.getByRole('cell', { name: owner.email, exact: true }).waitFor();
      expect(await dave.page.getByRole('button', { name: /^(Change role of|Remove) / }).count()).toBe(0);
      expect(await dave.page.getByRole('link', { name: 'Invitations' }).count()).toBe(0);
      await rowOf(dave.page, dave.email).getByRole('button', { name: 'Leave' }).waitFor();
      await expectAccessible(dave.page, 'members (viewer)');
      await screenshots(dave.page, folder, '04-viewer-members');

      // Remove Carol, after confirmation.
      await page.goto(`/o/${slug}/members`);
      await page.getByRole('button', { name: `Remove ${carol.email}` }).click();
      const remove = page.getByRole('dialog', { name: 'Remove member' });
      await expectAccessible(page, 'remove member dialog');
      await remove.getByRole('button', { name: 'Remove' }).click();
      await remove.waitFor({ state: 'hidden' });
      await page.getByRole('cell', { name: carol.email, exact: true }).waitFor({ state: 'detached' });

      // The last owner cannot leave: the server's message and the rule.
      await page.getByRole('button', { name: 'Leave organization' }).click();
      const leave = page.getByRole('dialog', { name: 'Leave organization' });
      await leave.getByRole('button', { name: 'Leave organization' }).click();
      await leave.getByText('an organization needs an active owner').waitFor();
      await leave.getByText('An organization always keeps at least one active owner').waitFor();
      await expectAccessible(page, 'last owner refused');
      await screenshots(page, folder, '05-last-owner');
      await leave.getByRole('button', { name: 'Cancel' }).click();

      // Transfer ownership to Dave, confirmed by typing the slug.
      await page.getByRole('button', { name: 'Transfer ownership' }).click();
      const transfer = page.getByRole('dialog', { name: 'Transfer ownership' });
      await transfer.getByRole('combobox', { name: 'New owner' }).click();
      await page.getByRole('option', { name: `${dave.email} (viewer)` }).click();
      const confirm = transfer.getByRole('button', { name: 'Transfer ownership' });
      await transfer.getByRole('textbox', { name: `Type ${slug} to confirm` }).fill('globex');
      expect(await confirm.isDisabled()).toBe(true);
      await transfer.getByRole('textbox', { name: `Type ${slug} to confirm` }).fill(slug);
      expect(await confirm.isDisabled()).toBe(false);
      await expectAccessible(page, 'transfer ownership dialog');
      await screenshots(page, folder, '06-transfer');
      await confirm.click();
      await transfer.waitFor({ state: 'hidden' });
      await rowOf(page, dave.email).getByRole('cell', { name: 'Owner', exact: true }).waitFor();
      await rowOf(page, owner.email).getByRole('cell', { name: 'Admin', exact: true }).waitFor();
      await page.getByRole('button', { name: 'Transfer ownership' }).waitFor({ state: 'detached' });

      // Now an admin: a new role cannot hold what an admin lacks (deleting the organization, billing).
      await page.goto(`/o/${slug}/roles`);
      await page.getByRole('button', { name: 'New role' }).click();
      const adminCreate = page.getByRole('dialog', { name: 'New role' });
      const box = (group: string, action: string) =>
        adminCreate.getByRole('group', { name: group }).getByRole('checkbox', { name: action, exact: true });
      expect(await box('Organization', 'delete').isDisabled()).toBe(true);
      expect(await box('Billing', 'manage').isDisabled()).toBe(true);
      expect(await box('Organization', 'update').isDisabled()).toBe(false);
      await expectAccessible(page, 'new role (admin)');
      await screenshots(page, folder, '07-admin-new-role');
      await adminCreate.getByRole('button', { name: 'Cancel' }).click();

      // Leave: confirmed, then `/`, which opens the Personal Organization; Globex is gone from the switcher.
      await page.goto(`/o/${slug}/members`);
      await rowOf(page, owner.email).getByRole('button', { name: 'Leave' }).click();
      await leave.getByRole('button', { name: 'Leave organization' }).click();
      await page.waitForURL(
        (url) => /\/o\/[a-z0-9-]+\/projects$/.test(url.pathname) && !url.pathname.includes(slug),
      );
      const switcher = page.getByRole('combobox', { name: 'Organization' });
      await expect.poll(() => switcher.inputValue(), { timeout: 10_000 }).toMatch(/\(Personal\)$/);
      await switcher.click();
      await page.getByRole('option').first().waitFor();
      expect(await page.getByRole('option', { name: 'Globex' }).count()).toBe(0);
      await page.keyboard.press('Escape');

      for (const ctx of [owner, bob, carol, dave]) expect(ctx.problems).toEqual([]);
      await Promise.all([owner, bob, carol, dave].map((x) => x.context.close()));
    },
    150_000,
  );

  it.concurrent(
    'invitations: many addresses with each outcome, resend, the hourly limit in minutes, revoke',
    async ({ expect }) => {
      const owner = await ownerOf('Initech');
      const { page, slug } = owner;
      const alice = newEmail('alice');

      await page.goto(`/o/${slug}/invitations`);
      await page.getByText('No pending invitations').waitFor();
      await expectAccessible(page, 'invitations (none)');
      await screenshots(page, folder, '08-invitations-empty');

      // One request per address: sent, invalid, already a member.
      const addresses = page.getByRole('combobox', { name: 'Email addresses' });
      await addresses.fill(`${alice}, not-an-email ${owner.email}`);
      await page.getByRole('button', { name: 'Send invitations' }).click();
      const outcome = (email: string) => page.getByRole('listitem').filter({ hasText: email });
      await outcome(alice).getByText('sent', { exact: true }).waitFor();
      await outcome('not-an-email').getByText('invalid', { exact: true }).waitFor();
      await outcome(owner.email).getByText('already a member', { exact: true }).waitFor();
      await page.getByRole('cell', { name: alice, exact: true }).waitFor();
      // Again: already invited (the invalid one stayed in the field, to correct; it is sent again too).
      await addresses.fill(alice);
      await page.getByRole('button', { name: 'Send invitations' }).click();
      await outcome(alice).getByText('already invited', { exact: true }).waitFor();
      await expectAccessible(page, 'invitations (outcomes)');
      await screenshots(page, folder, '09-invitations-outcomes');

      // Resend twice (three mails to one address this hour), then the limit, in minutes.
      const resend = async () => {
        const answered = page.waitForResponse((r) => r.url().endsWith('/resend'));
        await page.getByRole('button', { name: `Resend the invitation to ${alice}` }).click();
        return (await answered).status();
      };
      expect(await resend()).toBe(200);
      expect(await resend()).toBe(200);
      expect(await resend()).toBe(429);
      const limit = page.getByRole('alert').filter({ hasText: 'Invitation limit reached' });
      await limit.getByText(/Limit reached, try again in \d+ minutes/).waitFor();
      await expectAccessible(page, 'invitation limit reached');
      await screenshots(page, folder, '10-limit');

      // Revoke, after confirmation.
      await page.getByRole('button', { name: `Revoke the invitation to ${alice}` }).click();
      const revoke = page.getByRole('dialog', { name: 'Revoke invitation' });
      await expectAccessible(page, 'revoke dialog');
      await revoke.getByRole('button', { name: 'Revoke' }).click();
      await revoke.waitFor({ state: 'hidden' });
      await page.getByText('No pending invitations').waitFor();

      expect(owner.problems).toEqual([]);
      await owner.context.close();
    },
    90_000,
  );
});
