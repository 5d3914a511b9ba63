/**
 * Hostile review of erasure's SCIM clean-up (src/modules/account-erasure/erasure.service.ts,
 * erasure.repository.ts `deleteDirectoryRecord`): the directory record is deleted only in the
 * organizations erasure visits, and it visits only those where the person is a MEMBER (`plan` skips an
 * organization without a membership; `userOrganizations` / `app_platform_user_memberships` list
 * memberships). SCIM `active: false` removes the membership and keeps the `scim_users` row (user name =
 * the address, names, e-mails), as does a user provisioned inactive: erasure did not reach that row, and the
 * organization's SCIM API kept serving the erased person's name and address. Erasure now also visits every
 * organization holding a directory record of the person (`app_priv_erasure_directory_organizations`,
 * migration 0067); these tests hold it to what art. 17 asks.
 */
import { describe, expect, it } from 'vitest';
import { connect, testDb } from '../support/tenancy.js';
import { createOrg, signUp, startAppAround, type E2eApp } from './helpers.js';
import { SCIM_USER as USER, scimDirectory } from './scim-directory.js';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

let c: E2eApp;
startAppAround((started) => (c = started));

/** An enterprise organization of `owner` with the suite's domain verified, and a SCIM client of it. */
async function directory(owner: Awaited<ReturnType<typeof signUp>>, prefix: string) {
  const org = await createOrg(owner.browser, prefix);
  const su = await connect(testDb().adminUrl);
  try {
    return await scimDirectory(c, owner, org.id, su);
  } finally {
    await su.end();
  }
}

async function scimRowsOf(userId: string): Promise<string> {
  const check = await connect(testDb().adminUrl);
  try {
    const { rows } = await check.query(
      `select user_name, given_name, family_name, emails::text from scim_users where user_id = $1`,
      [userId],
    );
    return JSON.stringify(rows);
  } finally {
    await check.end();
  }
}

describe('review5: erasure and deactivated directory records', () => {
  it('erasing an account removes its directory record where the directory had deactivated it', async () => {
    const owner = await signUp(c, 'erase-inactive-owner');
    const person = await signUp(c, 'erase-inactive-person');
    const scim = await directory(owner, 'erase-inactive');
    const created = await scim('POST', '/Users', {
      schemas: [USER],
      userName: person.email,
      name: { givenName: 'Grace', familyName: 'Hopper' },
      emails: [{ value: person.email, type: 'work', primary: true }],
      active: true,
    });
    expect(created.statusCode, created.body).toBe(201);
    const scimId = created.json<{ id: string }>().id;
    // The IdP deactivates the person (they left the company): the membership goes, the record stays.
    const off = await scim('PATCH', `/Users/${scimId}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'replace', path: 'active', value: false }],
    });
    expect(off.statusCode, off.body).toBe(200);
    expect(off.json<{ active: boolean }>().active).toBe(false);

    const erased = await person.browser.req('DELETE', '/v1/account', { password: person.password });
    expect(erased.statusCode, erased.body).toBe(204);

    // Before the fix: 200 with userName = the erased address and name Grace Hopper; the row is in scim_users.
    const after = await scim('GET', `/Users/${scimId}`);
    expect(after.body).not.toContain(person.email);
    expect(after.body).not.toContain('Hopper');
    expect(await scimRowsOf(person.userId)).not.toContain(person.email);
  });

  it('erasing an account removes a directory record that was provisioned inactive', async () => {
    const owner = await signUp(c, 'erase-inactive2-owner');
    const person = await signUp(c, 'erase-inactive2-person');
    const scim = await directory(owner, 'erase-inactive2');
    const created = await scim('POST', '/Users', {
      schemas: [USER],
      userName: person.email,
      name: { givenName: 'Katherine', familyName: 'Johnson' },
      emails: [{ value: person.email, type: 'work', primary: true }],
      active: false,
    });
    expect(created.statusCode, created.body).toBe(201);
    const scimId = created.json<{ id: string }>().id;

    const erased = await person.browser.req('DELETE', '/v1/account', { password: person.password });
    expect(erased.statusCode, erased.body).toBe(204);

    const after = await scim('GET', `/Users/${scimId}`);
    expect(after.body).not.toContain(person.email);
    expect(after.body).not.toContain('Johnson');
    expect(await scimRowsOf(person.userId)).not.toContain(person.email);
  });
});
