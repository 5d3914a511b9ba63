import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { sql } from 'kysely';
import { connect } from '../../../test/support/tenancy.js';
import { createBareOrganization } from '../../modules/organizations/organization-records.js';
import { newGid } from './prepared-commits.js';
import { createStatementHomes } from './statement-home.js';
import { DIRECTORY_TABLES } from './placed-tables.js';
import { TenantConnection } from './tenant-connection.js';
import { finalizeInvoice } from './privileged.js';
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
 * What a hostile review of the directory split of `database` placements found, each test failing before
 * its fix: a scope preempting another's decision, decisions forgotten or read under another key, the
 * resolver's paging, a two-phase commit for a directory read, the classifier's tokens, the catalog
 * property the classifier relies on, and invoice numbering across the two databases. Not fixed (a limit
 * of the design, docs/isolation-models.md): a lock cycle across the two databases is seen by neither
 * server, so its scopes wait until a statement or lock timeout ends one.
 */
describe('database placements split across two databases: review', () => {
  let split: SplitDatabases;
  let tenancy: SplitDatabases['tenancy'];
  let admin: pg.Client;
  let tenantAdmin: pg.Client;
  let org: string;
  let other: string;

  const projectsIn = async (name: string) =>
    (await tenantAdmin.query('select 1 from projects where organization_id = $1 and name = $2', [org, name]))
      .rowCount;
  const orgName = async () =>
    (await admin.query<{ name: string }>('select name from organizations where id = $1', [org])).rows[0]!
      .name;
  const decisions = async () =>
    Number(
      (await admin.query<{ n: string }>('select count(*) as n from tenant_commit_decisions')).rows[0]!.n,
    );

  beforeAll(async () => {
    split = await openSplit('sr_rsplit');
    ({ tenancy, admin, tenantAdmin } = split);
    const slug = `rsplit-${randomUUID().slice(0, 8)}`;
    org = await placeInT1(split, slug, 'rsplit');
    other = (
      await createBareOrganization(tenancy.withTenant, { slug: `${slug}-other`, name: 'rsplit-other' })
    ).id;
  }, 120_000);
  afterAll(() => closeSplit(split));

  /** A prepared part a crashed coordinator left, decided (commit) under `t1`. */
  const leaveDecided = (name: string) => leavePrepared(split, org, name, true);

  it("another organization's scope cannot decide a live gid: the scope commits both sides, its connections stay clean", async () => {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- restored as it was, called with its `this`
    const prepare = TenantConnection.prototype.prepare;
    let seen: string | undefined;
    let refused: unknown;
    TenantConnection.prototype.prepare = async function (this: TenantConnection, gid: string) {
      const r = await prepare.call(this, gid);
      // Another organization's scope (pooled, on the control database) reads the cluster's prepared
      // transactions and records `commit` for the gid before the coordinator does.
      await scopeStorage
        .exit(() =>
          tenancy.withTenant(other, async (db) => {
            const rows = await sql<{ gid: string }>`select gid from pg_prepared_xacts`.execute(db);
            seen = rows.rows.map((x) => x.gid).find((g) => g === gid);
            await sql`select app_tenant_commit_decide(${seen}, 't1')`.execute(db);
          }),
        )
        .catch((err: unknown) => {
          refused = err;
        });
      return r;
    };
    let outcome: 'resolved' | 'rejected';
    try {
      outcome = await tenancy
        .withTenant(org, async (db) => {
          await db
            .insertInto('projects')
            .values({ organization_id: org, id: randomUUID(), name: 'f1' })
            .execute();
          await db.updateTable('organizations').set({ name: 'f1' }).where('id', '=', org).execute();
        })
        .then(
          () => 'resolved' as const,
          () => 'rejected' as const,
        );
    } finally {
      TenantConnection.prototype.prepare = prepare;
    }
    expect(seen).toBeDefined();
    expect(refused).toMatchObject({ code: '42501' });
    // Both sides or neither: a scope reported committed must have its control write.
    const state = { outcome, tenant: await projectsIn('f1'), controlName: await orgName() };
    expect
      .soft([
        { outcome: 'resolved', tenant: 1, controlName: 'f1' },
        { outcome: 'rejected', tenant: 0, controlName: 'rsplit' },
      ])
      .toContainEqual(state);
    // The coordinator's control connection, whose COMMIT failed (the duplicate decision), went back to
    // its pool inside its aborted transaction: every client of the pool must answer.
    const held = await Promise.all([1, 2, 3].map(() => tenancy.control.pool.connect()));
    const answers = await Promise.all(
      held.map((c) =>
        c.query('select 1').then(
          () => undefined,
          (err: Error) => err,
        ),
      ),
    );
    held.forEach((c, i) => c.release(answers[i]));
    expect(answers.map((a) => (a as { code?: string } | undefined)?.code)).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('a decision is forgotten only once old: a part still prepared keeps its decision and is committed', async () => {
    const gid = await leaveDecided('f2');
    const runtime = await connect(split.control.url);
    try {
      await runtime
        .query('select app_tenant_commit_forget($1::text[], $2)', [[gid], 't1'])
        .catch(() => undefined);
    } finally {
      await runtime.end();
    }
    await resolveT1(split, { minAgeMs: 0 });
    expect(await projectsIn('f2')).toBe(1);
  });

  it('a second key for the same tenant database reads the decisions made under the first', async () => {
    await leaveDecided('f3');
    await resolveT1(split, { key: 't1-alias', minAgeMs: 0 });
    expect(await projectsIn('f3')).toBe(1);
  });

  it('a resolver pass forgets every old decision of parts that are gone, page by page', async () => {
    await admin.query(
      `insert into tenant_commit_decisions (gid, database_key, outcome, decided_at)
       select 'sr_tc_' || md5(g::text || random()::text) || '_' || md5(random()::text), 't1', 'commit', now() - interval '1 hour'
         from generate_series(1, 10050) g`,
    );
    await resolveT1(split, { minAgeMs: 0, forgetAfterMs: 0 });
    // Every old one (the recent decisions of the tests above stay: their parts may still be prepared).
    const old = await admin.query(
      `select count(*)::int as n from tenant_commit_decisions where decided_at < now() - interval '5 minutes'`,
    );
    expect(old.rows[0]).toEqual({ n: 0 });
  }, 60_000);

  it("a tenant scope cannot record a decision for another organization's gid", async () => {
    const before = await decisions();
    const r = await tenancy
      .withTenant(other, (db) =>
        sql`select app_tenant_commit_decide(${newGid(org)}, 'no-such-database')`.execute(db),
      )
      .then(
        () => 'recorded',
        () => 'refused',
      );
    expect({ r, added: (await decisions()) - before }).toEqual({ r: 'refused', added: 0 });
  });

  it('a write scope that only read a directory table commits without a two-phase commit', async () => {
    const before = await decisions();
    await tenancy.withTenant(org, async (db) => {
      await db.selectFrom('organizations').select('name').where('id', '=', org).executeTakeFirst();
      await db
        .insertInto('projects')
        .values({ organization_id: org, id: randomUUID(), name: 'f6' })
        .execute();
    });
    expect((await decisions()) - before).toBe(0);
  });

  it('comments, escape strings and dollar quotes do not hide a table from the classifier', () => {
    const homes = createStatementHomes({ control: ['memberships'], placed: ['projects'] });
    expect(homes.of(`select name -- don't\n from projects where name <> 'memberships'`)).toBe('tenant');
    expect(homes.of(`select E'\\'', name from projects where name <> 'memberships'`)).toBe('tenant');
  });
  it('no column of a placed table is named like a control relation, nor of a control table like a placed one (statement-home.ts relies on it)', async () => {
    const rels = await admin.query<{ name: string; placed: boolean }>(
      `select c.relname::text as name,
          (c.relname <> all ($1::text[]) and exists (select 1 from pg_catalog.pg_attribute a
             where a.attrelid = c.oid and a.attname = 'organization_id' and not a.attisdropped)) as placed
        from pg_catalog.pg_class c
       where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')`,
      [Object.keys(DIRECTORY_TABLES)],
    );
    const placed = new Set(rels.rows.filter((r) => r.placed).map((r) => r.name));
    const controlRel = new Set(rels.rows.filter((r) => !r.placed).map((r) => r.name));
    const cols = await admin.query<{ rel: string; col: string }>(
      `select c.relname::text as rel, a.attname::text as col
         from pg_catalog.pg_attribute a join pg_catalog.pg_class c on c.oid = a.attrelid
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
          and a.attnum > 0 and not a.attisdropped`,
    );
    const clashes = cols.rows
      .filter(
        (r) => (placed.has(r.rel) && controlRel.has(r.col)) || (controlRel.has(r.rel) && placed.has(r.col)),
      )
      .map((r) => `${r.rel}.${r.col}`);
    expect(clashes).toEqual([]);
  });
  it("invoice numbers of a database placement come from the deployment's one counter (no duplicates)", async () => {
    const line = {
      description: 'x',
      planKey: 'p',
      component: 'base',
      quantity: 1,
      amount: 5,
      periodStart: '2001-03-01',
      periodEnd: '2001-04-01',
    };
    const finalize = (orgId: string) =>
      tenancy.withTenant(orgId, async (db) => {
        const id = randomUUID();
        await sql`insert into invoices (organization_id, id, currency, period_start, period_end, subtotal, total,
            lines, minor_units, customer_name, issuer)
          values (${orgId}, ${id}, 'EUR', '2001-03-01', '2001-04-01', 5, 5, ${JSON.stringify([line])}::jsonb, 2,
            'c', 'i')`.execute(db);
        return (await finalizeInvoice(db, orgId, id)).number;
      });
    const placedNumber = await finalize(org);
    const pooledNumber = await finalize(other);
    // One deployment, one counter: two invoices never share a number.
    expect(placedNumber).not.toBe(pooledNumber);
  });
});
