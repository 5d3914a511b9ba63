/**
 * Erasure reaches the SCIM directory records of organizations the person is NOT a member of: a directory
 * links an existing account of its verified domain created `active: false` (no membership), or
 * deprovisions a member with `active: false` (the membership goes, the record stays). Erasure found
 * organizations only through memberships and left those records, with the person's address and names,
 * served by the organization's SCIM API. Here in a pooled organization and in one placed in its own
 * schema, on both paths (the person's own `DELETE /v1/account`, a platform administrator's
 * `DELETE /v1/platform/users/:id`). On the shared `placements` database (test/support/placement-kinds.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { kindDatabase, type KindDatabase } from '../support/placement-kinds.js';
import { connect } from '../support/tenancy.js';
import {
  createOrg,
  signUp,
  signUpPlatformAdmin,
  startApp,
  stopApp,
  type E2eApp,
  type User,
} from './helpers.js';
import { SCIM_USER as USER, scimDirectory } from './scim-directory.js';

let c: E2eApp;
let where: KindDatabase;
let su: pg.Client;
beforeAll(async () => {
  where = await kindDatabase('schema');
  c = await startApp({ database: where.db });
  su = await connect(where.db.adminUrl);
});
afterAll(async () => {
  await su?.end();
  await stopApp(c);
});

/** An organization with a SCIM token, its directory allowed to link the suite's addresses; placed when asked. */
async function directoryOrg(owner: User, prefix: string, placed: boolean) {
  const org = await createOrg(owner.browser, prefix);
  // Placed before anything else of its own is written: every row below goes through the placement.
  if (placed) await where.place(c.tenancy, org.id);
  const placement = await su.query<{ kind: string }>(
    'select kind from tenant_placements where organization_id = $1',
    [org.id],
  );
  expect(placement.rows[0]?.kind ?? 'pooled').toBe(placed ? 'schema' : 'pooled');
  const scim = await scimDirectory(c, owner, org.id, su);
  return { ...org, schema: placed ? where.schemaOf(org.id) : 'public', scim };
}

type DirectoryOrg = Awaited<ReturnType<typeof directoryOrg>>;

/** The directory's record of `person` in `org`, without a membership there; returns its SCIM id. */
async function linkWithoutMembership(org: DirectoryOrg, person: User, how: 'inactive' | 'deprovisioned') {
  const created = await org.scim('POST', '/Users', {
    schemas: [USER],
    userName: person.email,
    name: { givenName: 'Ada', familyName: 'Lovelace' },
    emails: [{ value: person.email, type: 'work', primary: true }],
    active: how === 'deprovisioned',
  });
  expect(created.statusCode, created.body).toBe(201);
  const id = created.json<{ id: string }>().id;
  expect(id).toBe(person.userId);
  if (how === 'deprovisioned') {
    const off = await org.scim('PATCH', `/Users/${id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', path: 'active', value: false }],
    });
    expect(off.statusCode, off.body).toBe(200);
  }
  const member = await su.query('select 1 from memberships where organization_id = $1 and user_id = $2', [
    org.id,
    person.userId,
  ]);
  expect(member.rows).toHaveLength(0);
  const served = await org.scim('GET', `/Users/${id}`);
  expect(served.statusCode, served.body).toBe(200);
  expect(served.body).toContain(person.email);
  return id;
}

/** What is left of `person` in the directories: the SCIM API of each organization, and every schema's rows. */
async function expectGone(orgs: DirectoryOrg[], person: User) {
  for (const org of orgs) {
    const one = await org.scim('GET', `/Users/${person.userId}`);
    expect(one.statusCode, one.body).toBe(404);
    const listed = await org.scim(
      'GET',
      `/Users?filter=${encodeURIComponent(`userName eq "${person.email}"`)}`,
    );
    expect(listed.statusCode, listed.body).toBe(200);
    expect(listed.json<{ totalResults: number }>().totalResults).toBe(0);
    expect(listed.body).not.toContain(person.email);
  }
  // Every scim_users table of the database (public's and each placement schema's), as the superuser.
  const tables = await su.query<{ s: string }>(
    `select n.nspname as s from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relname = 'scim_users' and c.relkind = 'r'`,
  );
  expect(tables.rows.map((t) => t.s)).toEqual(
    expect.arrayContaining(['public', ...orgs.map((o) => o.schema)]),
  );
  for (const { s } of tables.rows) {
    const rows = await su.query<{ n: number }>(
      `select count(*)::int as n from "${s}".scim_users
        where user_id = $1 or lower(user_name) = lower($2) or emails::text ilike '%' || $2 || '%'`,
      [person.userId, person.email],
    );
    expect(rows.rows[0]!.n, `${s}.scim_users`).toBe(0);
  }
}

describe('e2e: erasure deletes SCIM records of organizations the person is not a member of', () => {
  it('the person erases their account: pooled and schema-placed directories forget them', async () => {
    const owner = await signUp(c, 'erase-nm-owner');
    const person = await signUp(c, 'erase-nm-person');
    const pooled = await directoryOrg(owner, 'erase-nm-pooled', false);
    const placed = await directoryOrg(owner, 'erase-nm-placed', true);
    await linkWithoutMembership(pooled, person, 'inactive');
    await linkWithoutMembership(placed, person, 'deprovisioned');

    const erased = await person.browser.req('DELETE', '/v1/account', { password: person.password });
    expect(erased.statusCode, erased.body).toBe(204);
    await expectGone([pooled, placed], person);
  });

  it('a platform administrator erases the account: pooled and schema-placed directories forget them', async () => {
    const admin = await signUpPlatformAdmin(c, 'erase-nm-admin', where.db.migrationUrl);
    const owner = await signUp(c, 'erase-nm-owner2');
    const person = await signUp(c, 'erase-nm-person2');
    const other = await signUp(c, 'erase-nm-other');
    const pooled = await directoryOrg(owner, 'erase-nm-pooled2', false);
    const placed = await directoryOrg(owner, 'erase-nm-placed2', true);
    await linkWithoutMembership(pooled, person, 'deprovisioned');
    await linkWithoutMembership(placed, person, 'inactive');
    // Someone else's record in the same directories stays.
    await linkWithoutMembership(placed, other, 'inactive');

    const erased = await admin.browser.delete(`/v1/platform/users/${person.userId}`);
    expect(erased.statusCode, erased.body).toBe(204);
    await expectGone([pooled, placed], person);
    const kept = await placed.scim('GET', `/Users/${other.userId}`);
    expect(kept.statusCode, kept.body).toBe(200);
    expect(kept.body).toContain(other.email);
  });
});
