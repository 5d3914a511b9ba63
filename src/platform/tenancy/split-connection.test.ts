import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { sql } from 'kysely';
import { connect } from '../../../test/support/tenancy.js';
import { createBareOrganization } from '../../modules/organizations/organization-records.js';
import { newGid } from './prepared-commits.js';
import { scopeStorage } from './tenant-database.js';
import {
  closeSplit,
  leavePrepared,
  openSplit,
  placeInT1,
  resolveT1,
  type SplitDatabases,
} from './split.test-support.js';

/**
 * A `database` placement's scope (split-connection.ts): placed tables on the tenant database, directory
 * and global tables on the control database, each statement where its tables are, a scope that wrote
 * both committed by two-phase commit, and what a crash between the two phases leaves resolved. Two
 * migrated databases of their own on the test server.
 */
describe('database placements: the directory stays in the control database', () => {
  let split: SplitDatabases;
  let tenancy: SplitDatabases['tenancy'];
  let admin: pg.Client;
  let tenantAdmin: pg.Client;
  let org: string;
  let slug: string;

  const projectsIn = async (c: pg.Client, name: string) =>
    (await c.query('select 1 from projects where organization_id = $1 and name = $2', [org, name])).rowCount;
  const orgName = async () =>
    (await admin.query<{ name: string }>('select name from organizations where id = $1', [org])).rows[0]!
      .name;
  const preparedLeft = async () =>
    (await tenantAdmin.query(`select gid from pg_prepared_xacts where database = current_database()`))
      .rowCount;

  beforeAll(async () => {
    split = await openSplit('sr_split');
    ({ tenancy, admin, tenantAdmin } = split);
    slug = `split-${randomUUID().slice(0, 8)}`;
    org = await placeInT1(split, slug, 'split');
  }, 120_000);
  afterAll(() => closeSplit(split));

  it('runs placed tables on the tenant database and directory tables on the control database', async () => {
    const read = await tenancy.withTenant(org, async (db) => {
      await db
        .insertInto('projects')
        .values({ organization_id: org, id: randomUUID(), name: 'placed-1' })
        .execute();
      return db.selectFrom('organizations').select('slug').where('id', '=', org).executeTakeFirst();
    });
    expect(read?.slug).toBe(slug);
    expect(await projectsIn(tenantAdmin, 'placed-1')).toBe(1);
    expect(await projectsIn(admin, 'placed-1')).toBe(0);
    // The control database's copy of the directory is the one read: renamed there, read renamed.
    await admin.query(`update organizations set name = 'renamed-in-control' where id = $1`, [org]);
    const name = await tenancy.withTenant(
      org,
      async (db) =>
        (await db.selectFrom('organizations').select('name').where('id', '=', org).executeTakeFirst())?.name,
      { mode: 'read' },
    );
    expect(name).toBe('renamed-in-control');
  });

  it('refuses a statement that names tables of both databases (no join across them)', async () => {
    await expect(
      tenancy.withTenant(org, (db) =>
        db
          .selectFrom('projects as p')
          .innerJoin('organizations as o', 'o.id', 'p.organization_id')
          .select('p.name')
          .where('p.organization_id', '=', org)
          .where('o.id', '=', org)
          .execute(),
      ),
    ).rejects.toMatchObject({ code: 'PLACEMENT_CROSS_DATABASE' });
  });

  it('commits a scope that wrote both databases on both (two-phase), nothing left prepared', async () => {
    await tenancy.withTenant(org, async (db) => {
      expect(scopeStorage.getStore()?.splitsDirectory).toBe(true);
      await db
        .insertInto('projects')
        .values({ organization_id: org, id: randomUUID(), name: 'both-1' })
        .execute();
      await db.updateTable('organizations').set({ name: 'both-1' }).where('id', '=', org).execute();
    });
    expect(await projectsIn(tenantAdmin, 'both-1')).toBe(1);
    expect(await orgName()).toBe('both-1');
    expect(await preparedLeft()).toBe(0);
    const decided = await admin.query(
      `select outcome from tenant_commit_decisions where database_key = 't1'`,
    );
    expect(decided.rows.map((r: { outcome: string }) => r.outcome)).toContain('commit');
  });

  it('rolls both back when the control side fails at COMMIT after the tenant side was prepared', async () => {
    await expect(
      tenancy.withTenant(org, async (db) => {
        await db
          .insertInto('projects')
          .values({ organization_id: org, id: randomUUID(), name: 'both-2' })
          .execute();
        await db.updateTable('organizations').set({ name: 'both-2' }).where('id', '=', org).execute();
        // Fails only with the COMMIT, after the tenant database's PREPARE: a duplicate slug.
        scopeStorage
          .getStore()!
          .deferUntilCommit(`update organizations set slug = 'x' || slug where id = $1 and 1 / 0 = 1`, [org]);
      }),
    ).rejects.toThrow();
    expect(await projectsIn(tenantAdmin, 'both-2')).toBe(0);
    expect(await orgName()).toBe('both-1');
    expect(await preparedLeft()).toBe(0);
  });

  it('rolls both back when the tenant side fails (its PREPARE answers ROLLBACK)', async () => {
    await expect(
      tenancy.withTenant(org, async (db) => {
        await db.updateTable('organizations').set({ name: 'both-3' }).where('id', '=', org).execute();
        await db
          .insertInto('projects')
          .values({ organization_id: org, id: randomUUID(), name: 'both-3' })
          .execute();
        scopeStorage
          .getStore()!
          .deferUntilCommit(`update projects set name = name where organization_id = $1 and 1 / 0 = 1`, [
            org,
          ]);
      }),
    ).rejects.toThrow();
    expect(await projectsIn(tenantAdmin, 'both-3')).toBe(0);
    expect(await orgName()).toBe('both-1');
    expect(await preparedLeft()).toBe(0);
  });

  it('resolves what a crash left: a decided part committed, an undecided one rolled back and ruled out', async () => {
    const decidedGid = await leavePrepared(split, org, 'crash-decided', true);
    const undecidedGid = await leavePrepared(split, org, 'crash-undecided', false);
    expect(await preparedLeft()).toBe(2);
    const result = await resolveT1(split, { minAgeMs: 0 });
    expect(result).toMatchObject({ committed: 1, rolledBack: 1 });
    expect(await preparedLeft()).toBe(0);
    expect(await projectsIn(tenantAdmin, 'crash-decided')).toBe(1);
    expect(await projectsIn(tenantAdmin, 'crash-undecided')).toBe(0);
    // The coordinator of the undecided part, had it lived, can no longer decide it.
    const cc = await connect(split.control.url);
    try {
      await cc.query('begin');
      await cc.query(`select set_config('app.tenant_id', $1, true)`, [org]);
      await expect(
        cc.query('select app_tenant_commit_decide($1, $2)', [undecidedGid, 't1']),
      ).rejects.toMatchObject({ code: '23505' });
      await cc.query('rollback');
    } finally {
      await cc.end();
    }
    // Decisions of parts that are gone are forgotten once old enough (five minutes; made so here).
    await admin.query(`update tenant_commit_decisions set decided_at = now() - interval '6 minutes'`);
    await resolveT1(split, { minAgeMs: 0, forgetAfterMs: 0 });
    const left = await admin.query('select 1 from tenant_commit_decisions where gid = any($1::text[])', [
      [decidedGid, undecidedGid],
    ]);
    expect(left.rowCount).toBe(0);
  });

  it('leaves a part whose coordinator is still within its time alone', async () => {
    const gid = await leavePrepared(split, org, 'young', false);
    const result = await resolveT1(split, { minAgeMs: 60_000 });
    expect(result).toMatchObject({ committed: 0, rolledBack: 0 });
    expect(await preparedLeft()).toBe(1);
    await tenantAdmin.query(`rollback prepared '${gid}'`);
  });

  it("refuses a scope deciding another organization's gid (no preempting its two-phase commit)", async () => {
    const other = await createBareOrganization(tenancy.withTenant, {
      slug: `split-other-${randomUUID().slice(0, 8)}`,
      name: 'other',
    });
    await expect(
      tenancy.withTenant(other.id, (db) =>
        sql`select app_tenant_commit_decide(${newGid(org)}, 't1')`.execute(db),
      ),
    ).rejects.toMatchObject({ code: '42501' });
  });

  it('commits a scope whose control side only read without a two-phase commit (no decision recorded)', async () => {
    const before = await admin.query('select count(*)::int as n from tenant_commit_decisions');
    await tenancy.withTenant(org, async (db) => {
      await db.selectFrom('organizations').select('name').where('id', '=', org).execute();
      await db
        .insertInto('projects')
        .values({ organization_id: org, id: randomUUID(), name: 'read-1' })
        .execute();
    });
    expect(await projectsIn(tenantAdmin, 'read-1')).toBe(1);
    const after = await admin.query('select count(*)::int as n from tenant_commit_decisions');
    expect(after.rows[0]).toEqual(before.rows[0]);
  });

  it('keeps the functions of the decisions to the runtime role and out of tenant scopes', async () => {
    await expect(
      tenancy.withTenant(org, (db) =>
        sql`select * from app_tenant_commit_outcome(array['sr_tc_00000000000000000000000000000000'], 't1')`.execute(
          db,
        ),
      ),
    ).rejects.toMatchObject({ code: '42501' });
    const direct = await connect(split.control.url);
    try {
      await expect(direct.query('select * from tenant_commit_decisions')).rejects.toMatchObject({
        code: '42501',
      });
    } finally {
      await direct.end();
    }
  });
});
