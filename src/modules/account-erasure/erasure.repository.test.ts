import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindDatabase, type KindDatabase } from '../../../test/support/placement-kinds.js';
import { connect, createTestOrg } from '../../../test/support/tenancy.js';
import { uuidv7 } from '../../platform/ids.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { deleteDirectoryRecord } from './erasure.repository.js';

/**
 * The SCIM directory tables are placed: erasure deletes a person's record wherever the organization is
 * placed. On the shared `placements` database (test/support/placement-kinds.ts), never the suite's own.
 */
describe('erasure of a directory record of a schema-placed organization', () => {
  let kd: KindDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;

  beforeAll(async () => {
    kd = await kindDatabase('schema');
    tenancy = kd.tenancy(2);
    admin = await connect(kd.db.adminUrl);
  });
  afterAll(async () => {
    await admin?.end();
    await tenancy?.close();
  });

  it("deletes the person's scim_users row and group memberships in the organization's schema, nobody else's", async () => {
    const org = await createTestOrg(tenancy, 'erase-scim-placed');
    await kd.place(tenancy, org);
    const schema = kd.schemaOf(org);
    expect(schema).not.toBe('public');
    const [erased, kept] = [uuidv7(), uuidv7()];
    for (const id of [erased, kept]) {
      const email = `p-${randomBytes(5).toString('hex')}@example.test`;
      await admin.query('insert into users (id, email, email_normalized) values ($1, $2, $2)', [id, email]);
    }
    const group = uuidv7();
    await tenancy.withTenant(org, async (db) => {
      await db
        .insertInto('scim_users')
        .values(
          [erased, kept].map((user_id) => ({
            organization_id: org,
            user_id,
            user_name: `${user_id}@x.test`,
            active: true,
            emails: '[]',
          })),
        )
        .execute();
      await db
        .insertInto('scim_groups')
        .values({ organization_id: org, id: group, display_name: 'everyone' })
        .execute();
      await db
        .insertInto('scim_group_members')
        .values([erased, kept].map((user_id) => ({ organization_id: org, group_id: group, user_id })))
        .execute();
    });
    const count = async (table: string, user: string) =>
      (
        await admin.query<{ n: number }>(
          `select count(*)::int as n from "${schema}".${table} where organization_id = $1 and user_id = $2`,
          [org, user],
        )
      ).rows[0]!.n;
    expect(await count('scim_users', erased)).toBe(1);

    const deleted = await tenancy.withTenant(org, (db) => deleteDirectoryRecord(db, org, erased));
    expect(deleted).toBe(true);
    expect(await count('scim_users', erased)).toBe(0);
    expect(await count('scim_group_members', erased)).toBe(0);
    expect(await count('scim_users', kept)).toBe(1);
    expect(await count('scim_group_members', kept)).toBe(1);
    // Idempotent: a resumed erasure finds nothing more to delete.
    expect(await tenancy.withTenant(org, (db) => deleteDirectoryRecord(db, org, erased))).toBe(false);
  });
});
