import { sql, type Kysely } from 'kysely';
import { createTenantTable, type MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * Feature flags: platform-level definitions (global, no organization_id: every tenant evaluates them),
 * per-organization overrides (a tenant table), and the organization fields targeting rules read (plan,
 * attributes).
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);

  await sql`alter table organizations
    add column plan text not null default 'free'
      constraint organizations_plan_format check (plan ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
    add column attributes jsonb not null default '{}'::jsonb
      constraint organizations_attributes_object check (jsonb_typeof(attributes) = 'object')`.execute(db);

  // Global definitions, written only through platform routes (the route guard is the authorization).
  await sql`create table feature_flags (
    key text primary key constraint feature_flags_key_format check (key ~ '^[a-z0-9][a-z0-9._-]{0,99}$'),
    description text not null default '',
    kind text not null check (kind in ('boolean', 'multivariate')),
    variants jsonb not null default '[]'::jsonb check (jsonb_typeof(variants) = 'array'),
    default_value jsonb not null,
    off_value jsonb not null,
    killed boolean not null default false,
    allow_org_override boolean not null default false,
    rules jsonb not null default '[]'::jsonb check (jsonb_typeof(rules) = 'array'),
    rollout jsonb check (rollout is null or jsonb_typeof(rollout) = 'object'),
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`.execute(db);
  await sql`grant select, insert, update, delete on feature_flags to ${runtime}`.execute(db);

  // Deleting a definition deletes every organization's override of it (the cascade runs as the table
  // owner, so it reaches all tenants without a privileged function).
  await createTenantTable(db, ctx, {
    name: 'feature_flag_overrides',
    columns: `flag_key text not null references feature_flags (key) on delete cascade,
      value jsonb not null,
      updated_by_user_id uuid references users (id) on delete set null,
      updated_at timestamptz not null default now()`,
    primaryKey: ['flag_key'],
  });
  await sql`create index feature_flag_overrides_flag_idx on feature_flag_overrides (flag_key)`.execute(db);
}
