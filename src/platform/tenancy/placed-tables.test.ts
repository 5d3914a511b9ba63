import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { DIRECTORY_TABLES, placedTables, tenantSchemaName } from './placed-tables.js';

/**
 * Which tables a schema placement moves (docs/isolation-models.md). A new table with `organization_id`
 * is placed unless it is added to DIRECTORY_TABLES: this test names it, so whoever adds it decides.
 */
const PLACED = [
  'audit_chain_heads',
  'audit_checkpoints',
  'audit_events',
  'audit_pending',
  'feature_flag_overrides',
  'idempotency_keys',
  'invitation_sends',
  'invoices',
  'organization_export_chunks',
  'organization_exports',
  'organization_plan_changes',
  'projects',
  'quota_notices',
  'roles',
  'saml_assertion_replays',
  'saml_pending_requests',
  'scim_events',
  'scim_group_members',
  'scim_groups',
  'scim_tokens',
  'scim_users',
  'sso_identities',
  'stripe_meter_pushes',
  'tenant_key_unreadable_values',
  'usage_aggregates',
  'usage_event_keys',
  'usage_events',
  'usage_unique_values',
  'webhook_deliveries',
  'webhook_delivery_attempts',
  'webhook_endpoints',
  'webhook_events',
];

describe('placed and directory tables', () => {
  let admin: pg.Client;

  beforeAll(async () => {
    admin = await connect(testDb().adminUrl);
  });
  afterAll(async () => {
    await admin.end();
  });

  it('every tenant table of public is either directory or placed, and the placed ones are these', async () => {
    const tenantTables = await admin.query<{ name: string }>(
      `select c.relname::text as name from pg_class c
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relispartition
          and (c.relname = 'organizations' or exists (select 1 from pg_attribute a where a.attrelid = c.oid
                 and a.attname = 'organization_id' and not a.attisdropped))
        order by 1`,
    );
    const placed = await placedTables(admin);
    expect(placed).toEqual(PLACED);
    const directory = Object.keys(DIRECTORY_TABLES).sort();
    expect(tenantTables.rows.map((r) => r.name)).toEqual([...placed, ...directory].sort());
  });

  it('the definer role may INSERT and UPDATE every placed table (a move copies rows through it, 0040/0061)', async () => {
    const missing = await admin.query<{ t: string }>(
      `select t from unnest($1::text[]) t
        where not (has_table_privilege($2, 'public.' || quote_ident(t), 'INSERT')
               and has_table_privilege($2, 'public.' || quote_ident(t), 'UPDATE'))
        order by 1`,
      [PLACED, testDb().roles.definer],
    );
    expect(missing.rows.map((r) => r.t)).toEqual([]);
  });

  it('no directory or global table has a foreign key to a placed table (moving one never breaks a reference)', async () => {
    const refs = await admin.query<{ ref: string }>(
      `select c.relname || ' -> ' || f.relname as ref from pg_constraint k
         join pg_class c on c.oid = k.conrelid join pg_class f on f.oid = k.confrelid
        where k.contype = 'f' and f.relnamespace = 'public'::regnamespace and f.relname = any ($1::text[])
          and not (c.relnamespace = 'public'::regnamespace and c.relname = any ($1::text[]))
          and not c.relispartition
        order by 1`,
      [PLACED],
    );
    expect(refs.rows.map((r) => r.ref)).toEqual([]);
  });

  it("derives an organization's schema name as SQL app_tenant_schema_name does", async () => {
    const org = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
    const res = await admin.query<{ s: string }>('select app_tenant_schema_name($1) as s', [org]);
    expect(tenantSchemaName(org)).toBe(res.rows[0]!.s);
    expect(() => tenantSchemaName('0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B')).toThrow();
    expect(() => tenantSchemaName('x"; drop schema public; --')).toThrow();
  });
});
