/**
 * Erasure reaches the SCIM directory records a TENANT DATABASE holds: an organization created in a region
 * (`database` placement) keeps its `scim_users` there, where the erasure's own lookup (the control
 * database's, proven by the person's credential) does not look. The anonymization's transaction queues
 * the worker's search of every tenant database (`erasure.tenant_directories`, migration 0075), which
 * deletes each record in its organization's scope. Real composition, a tenant database of its own and a
 * control database of its own: every app of one control database takes jobs from its one queue, so on the
 * suite's shared database another file's app, whose configuration does not name this file's tenant database,
 * could take the job, search the databases it knows and complete it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import { connect, testDb } from '../support/tenancy.js';
import {
  signUp,
  startApp,
  stopApp,
  tenantDatabasesOption,
  uniqueSlug,
  type E2eApp,
  type User,
} from './helpers.js';
import { SCIM_USER, scimDirectory } from './scim-directory.js';

describe('e2e: erasure deletes the SCIM records of a tenant database', () => {
  let eu: ProvisionedDatabase;
  let own: ProvisionedDatabase;
  let c: E2eApp;
  let control: pg.Client;
  let euAdmin: pg.Client;

  beforeAll(async () => {
    [eu, own] = await Promise.all([
      provisionDatabase(testDb().superuserUrl, 'sr_erase_eu', { tenantDatabase: true }),
      provisionDatabase(testDb().superuserUrl, 'sr_erase_ctl'),
    ]);
    c = await startApp({
      database: own,
      tenantDatabases: tenantDatabasesOption(
        { 'eu-1': { url: eu.url, workerUrl: eu.workerUrl } },
        { regions: { eu: 'eu-1' }, maxConnections: 4, poolSize: 2 },
      ),
    });
    control = await connect(own.adminUrl);
    euAdmin = await connect(eu.adminUrl);
  }, 120_000);
  afterAll(async () => {
    await control?.end();
    await euAdmin?.end();
    if (c) await stopApp(c);
    if (eu) await dropProvisioned(eu);
    if (own) await dropProvisioned(own);
  });

  /** An `eu` organization with a SCIM token, its directory allowed to link the suite's addresses. */
  async function euDirectory(owner: User) {
    const created = await owner.browser.post('/v1/organizations', {
      slug: uniqueSlug('erase-eu'),
      name: 'Erase EU',
      region: 'eu',
    });
    expect(created.statusCode, created.body).toBe(201);
    const org = created.json<{ id: string }>();
    const placed = await control.query<{ kind: string; database_key: string }>(
      'select kind, database_key from tenant_placements where organization_id = $1',
      [org.id],
    );
    expect(placed.rows[0]).toEqual({ kind: 'database', database_key: 'eu-1' });
    const scim = await scimDirectory(c, owner, org.id, control);
    return { id: org.id, scim };
  }

  /** The person's rows in the tenant database's directory tables, as its superuser. */
  const recordsIn = async (client: pg.Client, person: User) =>
    (
      await client.query<{ n: number }>(
        `select count(*)::int as n from scim_users
          where user_id = $1 or lower(user_name) = lower($2) or emails::text ilike '%' || $2 || '%'`,
        [person.userId, person.email],
      )
    ).rows[0]!.n;

  it("the person erases their account: the region's directory forgets them, through the worker", async () => {
    const owner = await signUp(c, 'erase-eu-owner');
    const person = await signUp(c, 'erase-eu-person');
    const org = await euDirectory(owner);
    // Linked without a membership (`active: false`): the record is the only trace of the person there.
    const linked = await org.scim('POST', '/Users', {
      schemas: [SCIM_USER],
      userName: person.email,
      name: { givenName: 'Ada', familyName: 'Lovelace' },
      emails: [{ value: person.email, type: 'work', primary: true }],
      active: false,
    });
    expect(linked.statusCode, linked.body).toBe(201);
    expect(linked.json<{ id: string }>().id).toBe(person.userId);
    expect(await recordsIn(euAdmin, person)).toBe(1);
    expect(await recordsIn(control, person)).toBe(0); // stored in the region only

    const erased = await person.browser.req('DELETE', '/v1/account', { password: person.password });
    expect(erased.statusCode, erased.body).toBe(204);
    const end = Date.now() + 20_000;
    while (Date.now() < end && (await recordsIn(euAdmin, person)) > 0) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await recordsIn(euAdmin, person)).toBe(0);
    const one = await org.scim('GET', `/Users/${person.userId}`);
    expect(one.statusCode, one.body).toBe(404);
    // The job ran once and is gone (completed), not failed.
    const jobs = await control.query<{ n: number }>(
      `select count(*)::int as n from graphile_worker._private_jobs where key = $1`,
      [`platform/erasure-tenant-directories:${person.userId}`],
    );
    expect(jobs.rows[0]!.n).toBe(0);
  });
});
