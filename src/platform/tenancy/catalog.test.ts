import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { kindDatabase, PLACEMENT_KINDS } from '../../../test/support/placement-kinds.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { placedTables } from './placed-tables.js';
import {
  REACHABLE_RELATIONS,
  REACHABLE_SCHEMAS,
  unprotectedTenantTables,
} from '../../../test/support/catalog.js';
import { GLOBAL_RELATIONS } from '../db/runtime-grants.js';
import { onCitus } from '../../../test/support/citus.js';

/**
 * The catalog as it is, for each placement kind: `pooled` (the suite's database), `schema` (a control
 * database with organizations placed in schemas of their own: every placement schema is checked like
 * public) and `database` (a dedicated tenant database: its runtime role is as powerless).
 */
describe.each(PLACEMENT_KINDS)('catalog, %s: every tenant table is protected', (kind) => {
  let admin: pg.Client;
  let db: ProvisionedDatabase;

  beforeAll(async () => {
    db = (await kindDatabase(kind)).db;
    admin = await connect(db.adminUrl);
  });
  afterAll(async () => {
    await admin?.end();
  });

  it('finds tenant tables, and every one has forced RLS, the index and the policy', async () => {
    const tables = await admin.query<{ relname: string }>(
      `select distinct c.relname from pg_attribute a join pg_class c on c.oid = a.attrelid
       join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relkind = 'r' and a.attname = 'organization_id'`,
    );
    expect(tables.rows.map((r) => r.relname)).toEqual(
      expect.arrayContaining([
        'projects',
        'tenant_placements',
        'idempotency_keys',
        'memberships',
        'roles',
        'invitations',
        'api_keys',
        'feature_flag_overrides',
      ]),
    );
    expect(await unprotectedTenantTables(admin, db.roles.runtime)).toEqual([]);
  });

  it('the organization purge reaches every table with organization_id (SELECT and DELETE for the definer role)', async () => {
    const unreachable = await admin.query<{ t: string }>(
      `select c.oid::regclass::text as t from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         join pg_attribute a on a.attrelid = c.oid and a.attname = 'organization_id' and a.attnum > 0
           and not a.attisdropped
        where c.relkind in ('r', 'p') and not c.relispartition
          and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
          and not (has_table_privilege($1, c.oid, 'SELECT') and has_table_privilege($1, c.oid, 'DELETE'))`,
      [db.roles.definer],
    );
    expect(unreachable.rows.map((r) => r.t)).toEqual([]);
  });

  it('organizations is its own tenant: forced RLS on id = app_current_tenant()', async () => {
    const res = await admin.query(
      `select c.relrowsecurity, c.relforcerowsecurity, pg_get_expr(p.polqual, p.polrelid) as q,
              pg_get_expr(p.polwithcheck, p.polrelid) as w
       from pg_class c join pg_policy p on p.polrelid = c.oid where c.relname = 'organizations'`,
    );
    expect(res.rows).toEqual([
      {
        relrowsecurity: true,
        relforcerowsecurity: true,
        q: '(id = app_current_tenant())',
        w: '(id = app_current_tenant())',
      },
    ]);
  });

  it('declares every reachable relation without organization_id global, with a reason, and nothing stale', async () => {
    const reachable = await admin.query<{ name: string; tenant: boolean }>(
      `select case when n.nspname = 'public' then '' else n.nspname || '.' end || c.relname as name,
              exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'organization_id'
                        and not a.attisdropped) or (n.nspname = 'public' and c.relname = 'organizations') as tenant
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.oid in (${REACHABLE_RELATIONS}) order by 1`,
      [db.roles.runtime],
    );
    const global = reachable.rows.filter((r) => !r.tenant).map((r) => r.name);
    expect(Object.keys(GLOBAL_RELATIONS).sort()).toEqual(global);
    for (const reason of Object.values(GLOBAL_RELATIONS)) expect(reason.length).toBeGreaterThan(10);
  });

  it('the policy function has the required form: STABLE, nullif, no sub-select', async () => {
    const res = await admin.query<{ provolatile: string; src: string }>(
      `select provolatile, prosrc as src from pg_proc where proname = 'app_current_tenant'`,
    );
    expect(res.rows[0]?.provolatile).toBe('s');
    expect(res.rows[0]?.src.trim()).toBe(`select nullif(current_setting('app.tenant_id', true), '')::uuid`);
  });

  it('the runtime role is not superuser, has no BYPASSRLS, owns nothing', async () => {
    const role = await admin.query(
      'select rolsuper, rolbypassrls, rolcreaterole, rolcreatedb from pg_roles where rolname = $1',
      [db.roles.runtime],
    );
    expect(role.rows[0]).toEqual({
      rolsuper: false,
      rolbypassrls: false,
      rolcreaterole: false,
      rolcreatedb: false,
    });
    const owned = await admin.query(
      `select c.relname from pg_class c join pg_roles r on r.oid = c.relowner where r.rolname = $1
       union all select p.proname from pg_proc p join pg_roles r on r.oid = p.proowner where r.rolname = $1
       union all select n.nspname from pg_namespace n join pg_roles r on r.oid = n.nspowner where r.rolname = $1`,
      [db.roles.runtime],
    );
    expect(owned.rows).toEqual([]);
    const member = await admin.query(
      `select b.rolname from pg_auth_members m join pg_roles b on b.oid = m.roleid
       join pg_roles r on r.oid = m.member where r.rolname = $1`,
      [db.roles.runtime],
    );
    expect(member.rows).toEqual([]);
  });

  it('usage_events: every daily partition carries the forced RLS and the policy, and the runtime role holds no privilege on any', async () => {
    // Public's and every placement schema's.
    const parts = await admin.query<{ relname: string; rls: boolean; forced: boolean; acl: string | null }>(
      `select c.oid::regclass::text as relname, c.relrowsecurity as rls, c.relforcerowsecurity as forced,
              array_to_string(c.relacl, ',') as acl
         from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent in (select oid from pg_class where relname = 'usage_events' and relkind = 'p')
        order by 1`,
    );
    const pub = parts.rows.filter((p) => !p.relname.includes('.'));
    expect(pub.length).toBeGreaterThanOrEqual(16); // the lateness window, today, a week ahead
    if (kind === 'schema') expect(parts.rows.length).toBeGreaterThanOrEqual(2 * pub.length);
    for (const p of parts.rows) {
      expect({ p: p.relname, rls: p.rls, forced: p.forced }).toEqual({
        p: p.relname,
        rls: true,
        forced: true,
      });
      expect(p.acl ?? '').not.toContain(`${db.roles.runtime}=`);
    }
    // The DDL function (owner role: partitions are created and dropped by the table owner) is the
    // worker role's only.
    const fn = await admin.query<{ owner: string; secdef: boolean; acl: string }>(
      `select r.rolname as owner, p.prosecdef as secdef, array_to_string(p.proacl, ',') as acl
         from pg_proc p join pg_roles r on r.oid = p.proowner where p.proname = 'app_usage_partitions'`,
    );
    expect(fn.rows).toHaveLength(1);
    expect(fn.rows[0]!.owner).toBe(db.roles.owner);
    expect(fn.rows[0]!.secdef).toBe(true);
    expect(fn.rows[0]!.acl).toContain(`${db.roles.worker}=X`);
    expect(fn.rows[0]!.acl).not.toContain(`${db.roles.runtime}=`);
    expect(fn.rows[0]!.acl).not.toMatch(/(^|,)=X/);
  });

  it('the definer role cannot log in, and only the runtime role may run its functions (the checkpoint scan and seal sweep: only the worker role)', async () => {
    const role = await admin.query('select rolcanlogin, rolbypassrls from pg_roles where rolname = $1', [
      db.roles.definer,
    ]);
    // On Citus (`npx saasready citus distribute`) it logs in, from the coordinator only, with a password
    // kept in pg_dist_authinfo: the coordinator opens worker connections as a function's owner
    // (docs/citus.md). On plain PostgreSQL it never logs in.
    const citus = await onCitus(db.adminUrl);
    expect(role.rows[0]).toEqual({ rolcanlogin: citus, rolbypassrls: true });
    if (citus) {
      const auth = await admin.query('select 1 from pg_dist_authinfo where rolename = $1 and nodeid = 0', [
        db.roles.definer,
      ]);
      expect(auth.rows).toHaveLength(1);
    }
    const fns = await admin.query<{ proname: string; prosecdef: boolean; acl: string }>(
      `select p.proname, p.prosecdef, array_to_string(p.proacl, ',') as acl from pg_proc p
       join pg_roles r on r.oid = p.proowner where r.rolname = $1 order by 1, p.pronamespace::regnamespace::text`,
      [db.roles.definer],
    );
    expect(fns.rows.map((f) => f.proname)).toEqual([
      // Contracts: see privileged.ts; each refusal is tested in privileged.test.ts.
      // Appends an account export's request/download to the platform chain: that export's user only (0027).
      'app_account_export_audit',
      // Seals an organization's pending events into its chain: only inside that organization's scope.
      'app_audit_seal',
      // The in-process sealer's batches of several organizations in one transaction (0070): the runtime
      // role, outside any tenant scope, counts only.
      'app_audit_seal_many',
      // Their shared body, one organization resolved by its placement (0070): executable by no other role.
      'app_audit_seal_org',
      // The runtime role's only way into the job queue (checks task, tenant scope, sealed payload).
      'app_enqueue_job',
      // A tenant database's overrides of deleted flags, deleted (0073): the worker role only.
      'app_flag_overrides_sweep',
      // Numbers and finalizes a draft invoice: only inside that organization's scope (migration 0019).
      'app_invoice_finalize',
      // ... and its form for a database placement, given the number (0071).
      'app_invoice_finalize',
      // A database placement's invoice number, from the control database's counter (0071).
      'app_invoice_number_next',
      // Every placement that is not pooled, and a schema's synchronized version (0042): the owner role's
      // migrations only (`npx saasready migrate`, the synchronization at start).
      'app_migrate_placements',
      'app_migrate_record_schema_version',
      // A moving `database` organization's guarded path on its tenant database (0078): whether its latest
      // move record there sends the scope away; the runtime role, for the organization of its scope only.
      'app_moving_tenant_elsewhere',
      // Where an organization's placed tables are, and every schema holding them (0038): helpers of the
      // definer's own functions, executable by no other role.
      // An online move (0040): the move's sides and a table's SQL pieces; one table's catch-up (0050);
      // helpers executable by no other role.
      'app_placement_move_catch_up_table',
      'app_placement_move_sides',
      'app_placement_move_table',
      'app_placement_schemas',
      'app_placement_search_path',
      // A move into a tenant database (0076): its record's check (step, placed table), a helper.
      'app_placement_xmove_check',
      // ... which side of a move this database is (0078).
      'app_placement_xmove_role',
      'app_placement_xmove_source',
      // Appends to the platform chain: only in a platform administrator's platform scope.
      'app_platform_audit_append',
      // Write the plan catalog: only in a platform administrator's platform scope.
      // Makes a pending deletion due now: only in a platform administrator's platform scope (0026).
      'app_platform_organization_expedite_deletion',
      'app_platform_plan_archive',
      'app_platform_plan_save',
      // A user's memberships, for the platform erasure path: only in the platform scope (migration 0028).
      'app_platform_user_memberships',
      // The memberships and audit events of a running account export's user: the worker role only (0027).
      'app_priv_account_export_rows',
      'app_priv_api_key_by_key_id',
      // Every organization with audit events: the worker role's hourly checkpoint job only (worker_api).
      'app_priv_audit_chains_to_checkpoint',
      // ... on a tenant database, given the control database's retentions (0077).
      'app_priv_audit_chains_to_checkpoint_given',
      // Every organization with pending audit events: the worker role's seal sweep only (worker_api).
      'app_priv_audit_orgs_pending',
      // Organizations created before an instant: the worker role's hourly period close only (migration 0023).
      'app_priv_billing_organizations',
      // The organization deletion job (migration 0026): worker role only, outside any tenant scope.
      'app_priv_deletion_due',
      'app_priv_deletion_ledger',
      // Whether an organization has a placement move under way (0076): the deletion waits for it.
      'app_priv_deletion_move_under_way',
      'app_priv_deletion_purge',
      'app_priv_deletion_record',
      'app_priv_deletion_shredded',
      'app_priv_deletion_start',
      // The organizations holding a SCIM record of a user being erased: that user's live credential or the
      // platform scope (migration 0067).
      'app_priv_erasure_directory_organizations',
      // The organizations of a tenant database holding a SCIM record of an erased user (0075): worker only.
      'app_priv_erasure_tenant_directory',
      'app_priv_invitation_by_token',
      'app_priv_organization_id_by_slug',
      // An online placement move (0040): the OWNER role only (it runs the schema's DDL too); each derives
      // source and target from the move's record and refuses inside a tenant scope.
      'app_priv_placement_move_advance',
      'app_priv_placement_move_begin',
      'app_priv_placement_move_catch_up',
      'app_priv_placement_move_copy',
      'app_priv_placement_move_discard',
      'app_priv_placement_move_switch',
      'app_priv_placement_moves',
      // A move into a tenant database (0076): the OWNER role only, on both databases; each is authorized by
      // the move's record (or its mirror in the tenant database) and refuses inside a tenant scope.
      'app_priv_placement_xmove_activate',
      'app_priv_placement_xmove_begin',
      'app_priv_placement_xmove_delete',
      'app_priv_placement_xmove_discard',
      'app_priv_placement_xmove_hold',
      // ... and out of one (0078): the copy's horizon in the source, the decision of a move into the control
      // database, the record of the move in the database it leaves.
      'app_priv_placement_xmove_horizon',
      'app_priv_placement_xmove_import',
      'app_priv_placement_xmove_mirror',
      'app_priv_placement_xmove_out_switch',
      'app_priv_placement_xmove_pending',
      'app_priv_placement_xmove_rows',
      'app_priv_placement_xmove_run',
      'app_priv_placement_xmove_source_mirror',
      'app_priv_placement_xmove_step',
      'app_priv_placement_xmove_summary',
      'app_priv_placement_xmove_switch',
      'app_priv_placement_xmove_switch_target',
      'app_priv_placement_xmove_unaggregated',
      'app_priv_placement_xmove_usage_claim',
      // How many schema placements are behind the code's migrations: a count for /readyz (0042).
      'app_priv_placements_behind',
      // Meter catalog writes: only in a platform administrator's platform scope.
      'app_priv_platform_meter_create',
      'app_priv_platform_meter_update',
      'app_priv_platform_organizations',
      // Organizations pending deletion: only in a platform administrator's platform scope (0026).
      'app_priv_platform_organizations_pending_deletion',
      // The placements of a page of the organization list: only in a platform administrator's platform
      // scope (0060).
      'app_priv_platform_placements',
      // Which organizations' plans (control database) have quotas: a tenant database's notices (0074).
      'app_priv_quota_organizations',
      // The SCIM token of a /scim/v2 request, outside any scope (0057).
      'app_priv_scim_token',
      // Deleted organizations' Stripe customers still to delete in Stripe: the worker role's job (0034).
      // Single sign-on before a tenant is known (0055): a callback's connection, discovery, require-SSO.
      'app_priv_sso_connection_for_sign_in',
      'app_priv_sso_discover',
      // The organizations holding a verified domain, for the scheduled re-verification: worker role only.
      'app_priv_sso_domain_organizations',
      // Expired SAML pending requests and replay entries of every organization: worker role only (0062).
      'app_priv_sso_purge_expired',
      'app_priv_sso_required_for',
      'app_priv_stripe_customer_deletion_result',
      'app_priv_stripe_customer_deletions_due',
      // Which organization a Stripe customer id belongs to: the webhook, outside any scope (0021).
      'app_priv_stripe_organization_by_customer',
      // Organizations in an ended grace period / with a subscription: the worker role's Stripe jobs.
      'app_priv_stripe_organizations',
      // A deleted organization's rows in its tenant database (0071): worker role only, outside any scope.
      'app_priv_tenant_database_purge',
      'app_priv_user_organizations',
      // Pending webhook deliveries long overdue (their job lost): the worker role's sweep only (0033).
      'app_priv_webhook_stuck_deliveries',
      // The retention job (0027): batched purges and its platform-chain event: the worker role only.
      'app_retention_audit',
      // A tenant database's organizations with their retention, read from the control database, and the
      // audit purge of a tenant database given them (0077): the worker role only.
      'app_retention_audit_placed',
      'app_retention_purge',
      // Audit events per plan, cut at a signed checkpoint, and webhook logs (0031): the worker role only.
      'app_retention_purge_audit',
      'app_retention_purge_audit_given',
      'app_retention_purge_webhooks',
      // Two-phase commit decisions of database placements' scopes and their resolver (0071).
      'app_tenant_commit_decide',
      'app_tenant_commit_forget',
      'app_tenant_commit_outcome',
      'app_tenant_commit_pending',
      // Usage aggregation (every organization's new events) and the key purge: the worker role only.
      'app_usage_aggregate_apply',
      'app_usage_aggregate_begin',
      'app_usage_aggregate_commit',
      // The organizations with events in an aggregation range (quota notices, migration 0020): worker only.
      // ... whatever their plan: a tenant database's aggregator, plans read from the control database (0074).
      'app_usage_changed_any_plan',
      'app_usage_changed_organizations',
      // The meters' definitions copied into a tenant database before its aggregation (0071): worker only.
      'app_usage_meters_sync',
      'app_usage_purge_keys',
      // Retention of the distinct values of unique_count meters per month (0063): the worker role only.
      'app_usage_unique_purge',
    ]);
    for (const f of fns.rows) {
      expect(f.prosecdef).toBe(true);
      expect(f.acl).not.toMatch(/(^|,)=X/); // no EXECUTE for PUBLIC
      if (
        f.proname.startsWith('app_migrate_') ||
        f.proname.startsWith('app_priv_placement_move') ||
        f.proname.startsWith('app_priv_placement_xmove')
      ) {
        expect(f.acl).toContain(`${db.roles.owner}=X`);
        expect(f.acl).not.toContain(`${db.roles.worker}=`);
        expect(f.acl).not.toContain(`${db.roles.runtime}=`);
      } else if (f.proname.startsWith('app_placement_') || f.proname === 'app_audit_seal_org') {
        expect(f.acl).not.toContain(`${db.roles.worker}=`);
        expect(f.acl).not.toContain(`${db.roles.runtime}=`);
      } else if (
        f.proname.startsWith('app_priv_audit_chains_to_checkpoint') ||
        f.proname === 'app_priv_audit_orgs_pending' ||
        f.proname === 'app_priv_stripe_organizations' ||
        f.proname.startsWith('app_priv_stripe_customer_deletion') ||
        f.proname === 'app_priv_billing_organizations' ||
        f.proname === 'app_priv_quota_organizations' ||
        f.proname === 'app_priv_account_export_rows' ||
        f.proname === 'app_priv_webhook_stuck_deliveries' ||
        f.proname === 'app_priv_sso_domain_organizations' ||
        f.proname === 'app_priv_sso_purge_expired' ||
        f.proname.startsWith('app_retention_') ||
        f.proname.startsWith('app_priv_deletion_') ||
        f.proname === 'app_priv_tenant_database_purge' ||
        f.proname === 'app_priv_erasure_tenant_directory' ||
        f.proname === 'app_usage_meters_sync' ||
        f.proname === 'app_flag_overrides_sweep' ||
        f.proname.startsWith('app_usage_')
      ) {
        expect(f.acl).toContain(`${db.roles.worker}=X`);
        expect(f.acl).not.toContain(`${db.roles.runtime}=`);
      } else {
        expect(f.acl).toContain(`${db.roles.runtime}=X`);
        expect(f.acl).not.toContain(`${db.roles.worker}=`);
      }
    }
  });

  if (kind === 'schema')
    it('every placement schema holds every placed table, each a tenant table the check covers', async () => {
      const schemas = await admin.query<{ nspname: string; tables: string[]; reachable: boolean }>(
        `select n.nspname, array(select c.relname::text from pg_class c where c.relnamespace = n.oid
                                   and c.relkind in ('r', 'p') and not c.relispartition order by 1) as tables,
                n.oid in (${REACHABLE_SCHEMAS}) as reachable
           from pg_namespace n join tenant_placements p
             on p.kind = 'schema' and n.nspname = 't_' || replace(p.organization_id::text, '-', '')
          order by 1`,
        [db.roles.runtime],
      );
      expect(schemas.rows.length).toBeGreaterThanOrEqual(1);
      const placed = await placedTables(admin);
      for (const s of schemas.rows)
        expect(s).toEqual({ nspname: s.nspname, tables: placed, reachable: true });
      // A placement schema's table missing its protection is named (throwaway, rolled back).
      const owner = await connect(db.migrationUrl);
      const t = `${schemas.rows[0]!.nspname}.projects`;
      try {
        await owner.query('begin');
        await owner.query(`alter table ${t} no force row level security`);
        await owner.query(`alter policy tenant_isolation on ${t} to public`);
        expect(await unprotectedTenantTables(owner, db.roles.runtime)).toEqual([
          `${t}: no policy with USING and WITH CHECK on app_current_tenant() for the runtime role`,
          `${t}: rls not forced`,
          `${t}: unexpected policy tenant_isolation: granted to PUBLIC, USING (organization_id = app_current_tenant()), WITH CHECK (organization_id = app_current_tenant())`,
        ]);
      } finally {
        await owner.query('rollback');
        await owner.end();
      }
    });
});

/**
 * The check itself: it fails on each way a table can be left open (throwaway changes, rolled back). In a
 * database of its own: a throwaway change takes ACCESS EXCLUSIVE locks table after table (projects, roles,
 * memberships, ...) until its rollback, which in the suite's shared database blocked other files' requests
 * and deadlocked with their reads (a request's membership read locks memberships, organizations, roles):
 * the cross-tenant test's rare 500 in full runs (test/e2e/deadlock-victim.test.ts).
 */
describe('catalog: the check fails on what it must', () => {
  let owner: pg.Client;
  let db: ProvisionedDatabase;

  beforeAll(async () => {
    db = await provisionDatabase(testDb().superuserUrl, 'sr_catalog_check');
    owner = await connect(db.migrationUrl);
  });
  afterAll(async () => {
    await owner?.end();
    if (db) await dropProvisioned(db);
  });

  /** Runs `fn` as the owner in a transaction that is rolled back. */
  async function throwaway(fn: () => Promise<void>): Promise<void> {
    await owner.query('begin');
    try {
      await fn();
    } finally {
      await owner.query('rollback');
    }
  }
  const problems = () => unprotectedTenantTables(owner, db.roles.runtime);

  it('fails on a widening policy next to the right one (wide_open USING (true) on projects)', async () => {
    await throwaway(async () => {
      await owner.query('create policy wide_open on projects using (true)');
      expect(await problems()).toEqual([
        'projects: unexpected policy wide_open: granted to PUBLIC, USING true, WITH CHECK -',
      ]);
    });
    await throwaway(async () => {
      await owner.query('create policy wide_open on organizations using (true)');
      expect(await problems()).toEqual([
        'organizations: unexpected policy wide_open: granted to PUBLIC, USING true, WITH CHECK -',
      ]);
    });
  });

  it('fails on any extra policy: restrictive, another command, another role, even in the right form', async () => {
    const rt = `"${db.roles.runtime}"`;
    await throwaway(async () => {
      await owner.query(`create policy r on projects as restrictive for select to ${rt}
        using (organization_id = app_current_tenant())`);
      await owner.query(
        `create policy s on roles for select to ${rt} using (organization_id = app_current_tenant())`,
      );
      await owner.query(
        `create policy o on memberships to "${db.roles.owner}" using (true) with check (true)`,
      );
      await owner.query(`create policy twin on invitations as permissive for all to ${rt}
        using (organization_id = app_current_tenant()) with check (organization_id = app_current_tenant())`);
      expect(await problems()).toEqual([
        'invitations: more than one tenant policy',
        `memberships: unexpected policy o: roles ${db.roles.owner}, USING true, WITH CHECK true`,
        'projects: unexpected policy r: restrictive, command r, USING (organization_id = app_current_tenant()), WITH CHECK -',
        'roles: unexpected policy s: command r, USING (organization_id = app_current_tenant()), WITH CHECK -',
      ]);
    });
  });

  it('fails on the tenant policy granted to PUBLIC, and on a missing FORCE or ENABLE', async () => {
    await throwaway(async () => {
      await owner.query('alter policy tenant_isolation on projects to public');
      await owner.query('alter table roles no force row level security');
      await owner.query('alter table memberships disable row level security');
      expect(await problems()).toEqual([
        'memberships: rls not enabled',
        'projects: no policy with USING and WITH CHECK on app_current_tenant() for the runtime role',
        'projects: unexpected policy tenant_isolation: granted to PUBLIC, USING (organization_id = app_current_tenant()), WITH CHECK (organization_id = app_current_tenant())',
        'roles: rls not forced',
      ]);
    });
  });

  it('fails on a relation the runtime role can reach that is keyed by another column (org_id) and not declared global', async () => {
    await throwaway(async () => {
      await owner.query('create table throwaway_org (org_id uuid not null primary key, secret text)');
      expect(await problems()).toEqual([]); // unreachable: not a problem
      await owner.query(`grant select, insert on throwaway_org to "${db.roles.runtime}"`);
      expect(await problems()).toEqual([
        'throwaway_org: no index leading with organization_id',
        'throwaway_org: no policy with USING and WITH CHECK on app_current_tenant() for the runtime role',
        'throwaway_org: reachable by the runtime role, not declared global, and no organization_id column',
        'throwaway_org: rls not enabled',
        'throwaway_org: rls not forced',
      ]);
      // Declared global (with a reason, in runtime-grants.ts), it is no longer taken for a tenant table.
      expect(
        await unprotectedTenantTables(owner, db.roles.runtime, [
          ...Object.keys(GLOBAL_RELATIONS),
          'throwaway_org',
        ]),
      ).toEqual([]);
    });
  });

  it('covers every schema the runtime role can reach, not only public', async () => {
    await throwaway(async () => {
      await owner.query('create schema throwaway_schema');
      await owner.query('create table throwaway_schema.t (organization_id uuid not null)');
      expect(await problems()).toEqual([]); // unreachable: not a problem
      await owner.query(`grant usage on schema throwaway_schema to "${db.roles.runtime}"`);
      expect(await problems()).toEqual([
        'throwaway_schema.t: no index leading with organization_id',
        'throwaway_schema.t: no policy with USING and WITH CHECK on app_current_tenant() for the runtime role',
        'throwaway_schema.t: rls not enabled',
        'throwaway_schema.t: rls not forced',
      ]);
    });
  });

  it('fails when a table with organization_id lacks the protection (throwaway table)', async () => {
    await owner.query('begin');
    try {
      await owner.query('create table throwaway_unprotected (organization_id uuid not null, x int)');
      const problems = await unprotectedTenantTables(owner, db.roles.runtime);
      expect(problems).toEqual(
        expect.arrayContaining([
          'throwaway_unprotected: rls not enabled',
          'throwaway_unprotected: rls not forced',
          'throwaway_unprotected: no index leading with organization_id',
        ]),
      );
      await owner.query('alter table throwaway_unprotected enable row level security');
      await owner.query('alter table throwaway_unprotected force row level security');
      await owner.query('create index on throwaway_unprotected (organization_id)');
      // A policy in the forbidden form (no nullif) does not count as protection.
      await owner.query(
        `create policy p on throwaway_unprotected using (organization_id = current_setting('app.tenant_id')::uuid)`,
      );
      expect(await unprotectedTenantTables(owner, db.roles.runtime)).toEqual([
        'throwaway_unprotected: no policy with USING and WITH CHECK on app_current_tenant() for the runtime role',
        "throwaway_unprotected: unexpected policy p: granted to PUBLIC, USING (organization_id = (current_setting('app.tenant_id'::text))::uuid), WITH CHECK -",
      ]);
    } finally {
      await owner.query('rollback');
    }
  });
});
