/**
 * Test fixture for the tests of a `database` placement's split scope (imported by tests only): a control
 * database and a tenant database `t1` of their own, the tenancy over both, their superusers, an
 * organization placed in `t1` by hand, and the prepared part a crashed coordinator leaves.
 */
import type pg from 'pg';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { createBareOrganization } from '../../modules/organizations/organization-records.js';
import { newGid, resolvePreparedCommits } from './prepared-commits.js';
import { createTenancy, type Tenancy } from './tenancy.js';

/** Two migrated databases, the tenancy over them (`t1` the tenant database), and their superusers. */
export interface SplitDatabases {
  control: ProvisionedDatabase;
  tenant: ProvisionedDatabase;
  tenancy: Tenancy;
  /** The control database's superuser. */
  admin: pg.Client;
  /** The tenant database's superuser. */
  tenantAdmin: pg.Client;
}

/**
 * Provisions a control database (`<label>`) and a tenant database (`<label>_t`), and opens a tenancy over
 * both with the tenant database as `t1`; what was opened is closed again if a later step fails.
 */
export async function openSplit(label: string): Promise<SplitDatabases> {
  const [control, tenant] = await Promise.all([
    provisionDatabase(testDb().superuserUrl, label),
    provisionDatabase(testDb().superuserUrl, `${label}_t`, { tenantDatabase: true }),
  ]);
  const opened: Partial<SplitDatabases> = { control, tenant };
  try {
    opened.tenancy = createTenancy({
      url: control.url,
      poolSize: 3,
      tenantDatabases: { databases: { t1: { url: tenant.url } }, maxConnections: 4 },
    });
    opened.admin = await connect(control.adminUrl);
    opened.tenantAdmin = await connect(tenant.adminUrl);
    return opened as SplitDatabases;
  } catch (err) {
    await closeSplit(opened);
    throw err;
  }
}

/**
 * Rolls back what is left prepared in the tenant database, closes the clients and the tenancy, and drops
 * both databases (whatever of them was opened).
 */
export async function closeSplit(split: Partial<SplitDatabases> | undefined): Promise<void> {
  const { control, tenant, tenancy, admin, tenantAdmin } = split ?? {};
  const left = await tenantAdmin?.query<{ gid: string }>(
    'select gid from pg_prepared_xacts where database = current_database()',
  );
  for (const r of left?.rows ?? []) await tenantAdmin!.query(`rollback prepared '${r.gid}'`);
  await admin?.end();
  await tenantAdmin?.end();
  await tenancy?.close();
  if (control) await dropProvisioned(control);
  if (tenant) await dropProvisioned(tenant);
}

/**
 * Creates an organization `slug` named `name` in the control database and places it in `t1` by hand: its
 * placement set to the tenant database, the router's cached placement dropped, and its row copied into
 * the tenant database (whose placed rows reference it by foreign key). Its id.
 */
export async function placeInT1(
  split: Pick<SplitDatabases, 'tenancy' | 'admin' | 'tenantAdmin'>,
  slug: string,
  name: string,
): Promise<string> {
  const org = (await createBareOrganization(split.tenancy.withTenant, { slug, name })).id;
  await split.admin.query(
    `update tenant_placements set kind = 'database', database_key = 't1' where organization_id = $1`,
    [org],
  );
  split.tenancy.router.invalidate(org);
  await split.tenantAdmin.query(`insert into organizations (id, slug, name) values ($1, $2, $3)`, [
    org,
    slug,
    name,
  ]);
  return org;
}

/**
 * What a process that died right after its PREPARE leaves: a project `name` of `org` inserted in a
 * transaction prepared in the tenant database, and, when `decide`, its `commit` recorded under `t1` in the
 * organization's scope on the control database. Its gid.
 */
export async function leavePrepared(
  split: SplitDatabases,
  org: string,
  name: string,
  decide: boolean,
): Promise<string> {
  const gid = newGid(org);
  const c = await connect(split.tenant.url);
  try {
    await c.query('begin');
    await c.query(`select set_config('app.tenant_id', $1, true)`, [org]);
    await c.query('insert into projects (organization_id, id, name) values ($1, gen_random_uuid(), $2)', [
      org,
      name,
    ]);
    await c.query(`prepare transaction '${gid}'`);
  } finally {
    await c.end();
  }
  if (decide) {
    const cc = await connect(split.control.url);
    try {
      await cc.query('begin');
      await cc.query(`select set_config('app.tenant_id', $1, true)`, [org]);
      await cc.query('select app_tenant_commit_decide($1, $2)', [gid, 't1']);
      await cc.query('commit');
    } finally {
      await cc.end();
    }
  }
  return gid;
}

/** One resolver pass over `t1`'s prepared parts, the decisions read under `key` (default `t1`). */
export function resolveT1(
  split: SplitDatabases,
  opts: { key?: string; minAgeMs: number; forgetAfterMs?: number },
): ReturnType<typeof resolvePreparedCommits> {
  return resolvePreparedCommits({
    control: split.tenancy.control.pool,
    tenant: split.tenancy.databases!.get('t1')!.pool,
    ...opts,
    key: opts.key ?? 't1',
  });
}
