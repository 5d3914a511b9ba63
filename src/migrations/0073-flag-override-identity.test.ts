import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMigrationDatabase, type MigrationDatabase } from '../../test/support/migration-database.js';
import { testDb } from '../../test/support/tenancy.js';

/**
 * Migration 0073 gives every flag an id (derived from its key and creation time, the same on every
 * replica) and every override of the control database the id of its flag (the foreign key says the
 * override is of the flag its key names), as the owner, whom the forced RLS of the overrides would
 * otherwise show no row.
 */
describe('migration 0073 on existing flags and overrides', () => {
  let m: MigrationDatabase;

  beforeAll(async () => {
    m = await openMigrationDatabase(testDb().superuserUrl, 'sr_m73');
  });
  afterAll(async () => {
    await m?.close();
  });

  it('gives the flags ids and the overrides their flag’s; the keys check both from then on', async () => {
    await m.migrateToBefore('0073-flag-override-identity');
    const org = randomUUID();
    await m.admin.query(`insert into organizations (id, slug, name) values ($1, $2, $2)`, [
      org,
      `m73-${m.database.slice(-8)}`,
    ]);
    await m.admin.query(
      `insert into feature_flags (key, kind, default_value, off_value, allow_org_override)
       values ('m73.a', 'boolean', 'false', 'false', true), ('m73.b', 'boolean', 'false', 'false', true)`,
    );
    await m.admin.query(
      `insert into feature_flag_overrides (organization_id, flag_key, value) values ($1, 'm73.a', 'true'), ($1, 'm73.b', 'true')`,
      [org],
    );

    await m.migrateTo('0073-flag-override-identity');
    const rows = await m.admin.query<{ flag_key: string; same: boolean }>(
      `select o.flag_key, o.flag_id is not distinct from f.id as same
         from feature_flag_overrides o join feature_flags f on f.key = o.flag_key order by 1`,
    );
    expect(rows.rows).toEqual([
      { flag_key: 'm73.a', same: true },
      { flag_key: 'm73.b', same: true },
    ]);
    const ids = await m.admin.query<{ n: number }>(
      'select count(distinct id)::int as n from feature_flags where id is not null',
    );
    expect(ids.rows[0]!.n).toBe(2);
    // The existing flags' ids are one deterministic function of key and creation time (every replica of a
    // Citus reference table computes the same).
    const derived = await m.admin.query<{ same: boolean }>(
      `select bool_and(id = md5(key || '@' || (extract(epoch from created_at))::text)::uuid) as same
         from feature_flags where key like 'm73.%'`,
    );
    expect(derived.rows).toEqual([{ same: true }]);
    // A flag created from now on gets a random id of its own (the default set after the fill), never none.
    await m.admin.query(
      `insert into feature_flags (key, kind, default_value, off_value) values ('m73.c', 'boolean', 'false', 'false')`,
    );
    const fresh = await m.admin.query<{ id: string | null; derived: string }>(
      `select id, md5(key || '@' || (extract(epoch from created_at))::text)::uuid::text as derived
         from feature_flags where key = 'm73.c'`,
    );
    expect(fresh.rows[0]!.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(fresh.rows[0]!.id).not.toBe(fresh.rows[0]!.derived);
    await expect(
      m.admin.query(`update feature_flags set id = null where key = 'm73.c'`),
    ).rejects.toMatchObject({
      code: '23502',
    });
    const forced = await m.admin.query<{ f: boolean }>(
      `select relforcerowsecurity as f from pg_class where oid = 'public.feature_flag_overrides'::regclass`,
    );
    expect(forced.rows).toEqual([{ f: true }]);
    // An override naming another flag's id (or one of its key's earlier flag) is refused.
    const other = await m.admin.query<{ id: string }>(`select id from feature_flags where key = 'm73.b'`);
    await expect(
      m.admin.query(
        `update feature_flag_overrides set flag_id = $2 where organization_id = $1 and flag_key = 'm73.a'`,
        [org, other.rows[0]!.id],
      ),
    ).rejects.toMatchObject({ code: '23503', constraint: 'feature_flag_overrides_flag_fkey' });
    // Deleting a flag still takes its overrides with it.
    await m.admin.query(`delete from feature_flags where key = 'm73.a'`);
    const left = await m.admin.query<{ flag_key: string }>('select flag_key from feature_flag_overrides');
    expect(left.rows).toEqual([{ flag_key: 'm73.b' }]);
  });
});
