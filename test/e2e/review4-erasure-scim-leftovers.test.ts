/**
 * Hostile review: an erased account's directory record. Erasure anonymizes the `users` row and removes
 * the memberships, but the organization's `scim_users` row of the person (user name = the address, given
 * and family name, display name, e-mails) is keyed by the user id, which erasure keeps as a tombstone: the
 * row stays, and the organization's SCIM API keeps serving the erased person's name and address.
 */
import { describe, expect, it } from 'vitest';
import { connect, testDb } from '../support/tenancy.js';
import { createOrg, signUp, startAppAround, type E2eApp } from './helpers.js';
import { SCIM_USER as USER, scimDirectory, type ScimRequest } from './scim-directory.js';

let c: E2eApp;
startAppAround((started) => (c = started));

describe('review4: account erasure and SCIM', () => {
  it("erasing a directory-provisioned account removes the person's name and address from the directory", async () => {
    const owner = await signUp(c, 'erase-scim-owner');
    const person = await signUp(c, 'erase-scim-person');
    const org = await createOrg(owner.browser, 'erase-scim');
    const su = await connect(testDb().adminUrl);
    let scim: ScimRequest;
    try {
      scim = await scimDirectory(c, owner, org.id, su);
    } finally {
      await su.end();
    }
    const created = await scim('POST', '/Users', {
      schemas: [USER],
      userName: person.email,
      name: { givenName: 'Ada', familyName: 'Lovelace' },
      emails: [{ value: person.email, type: 'work', primary: true }],
      active: true,
    });
    expect(created.statusCode, created.body).toBe(201);
    const scimId = created.json<{ id: string }>().id;

    const erased = await person.browser.req('DELETE', '/v1/account', { password: person.password });
    expect(erased.statusCode, erased.body).toBe(204);

    // On main: 200 with userName = the erased address and name Ada Lovelace; the row is in scim_users.
    const after = await scim('GET', `/Users/${scimId}`);
    expect(after.body).not.toContain(person.email);
    expect(after.body).not.toContain('Lovelace');
    const check = await connect(testDb().adminUrl);
    try {
      const { rows } = await check.query(
        `select user_name, given_name, family_name, emails::text from scim_users where user_id = $1`,
        [person.userId],
      );
      expect(JSON.stringify(rows)).not.toContain(person.email);
    } finally {
      await check.end();
    }
  });
});
