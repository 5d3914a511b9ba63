/**
 * Hostile review: an erased account's directory record. Erasure anonymizes the `users` row and removes
 * the memberships, but the organization's `scim_users` row of the person (user name = the address, given
 * and family name, display name, e-mails) is keyed by the user id, which erasure keeps as a tombstone: the
 * row stays, and the organization's SCIM API keeps serving the erased person's name and address.
 */
import { describe, expect, it } from 'vitest';
import { connect, testDb } from '../support/tenancy.js';
import { createOrg, inOrg, rememberSecret, signUp, startAppAround, type E2eApp } from './helpers.js';

const SCIM = 'application/scim+json';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';

let c: E2eApp;
startAppAround((started) => (c = started));

describe('review4: account erasure and SCIM', () => {
  it("erasing a directory-provisioned account removes the person's name and address from the directory", async () => {
    const owner = await signUp(c, 'erase-scim-owner');
    const person = await signUp(c, 'erase-scim-person');
    const org = await createOrg(owner.browser, 'erase-scim');
    const su = await connect(testDb().adminUrl);
    try {
      // The directory links existing accounts of the organization's verified domain (the suite's addresses).
      await su.query(
        `insert into organization_domains (organization_id, domain, verification_token, status, verified_at)
         values ($1, 'e2e.example.com', 'test', 'verified', now())`,
        [org.id],
      );
      await su.query(`update organizations set plan = 'enterprise' where id = $1`, [org.id]);
    } finally {
      await su.end();
    }
    const minted = await owner.browser.post('/v1/scim/tokens', {}, inOrg(org.id));
    expect(minted.statusCode, minted.body).toBe(201);
    const secret = rememberSecret(minted.json<{ secret: string }>().secret);
    const scim = (method: 'GET' | 'POST', url: string, body?: unknown) =>
      c.app.inject({
        method,
        url: `/scim/v2${url}`,
        ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
        headers: {
          authorization: `Bearer ${secret}`,
          ...(body === undefined ? {} : { 'content-type': SCIM }),
        },
      });
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
