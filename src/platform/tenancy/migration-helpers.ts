import { sql, type Kysely } from 'kysely';
import type { RoleNames } from '../db/bootstrap.js';

/** What every migration is given besides the database: the role names to grant to. */
export interface MigrationContext {
  readonly roles: RoleNames;
}

const NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export interface TenantTableDefinition {
  readonly name: string;
  /** Column definitions after `organization_id` (trusted SQL from the migration itself). */
  readonly columns: string;
  /** Primary key columns after `organization_id`, e.g. `['id']` → `primary key (organization_id, id)`. */
  readonly primaryKey: readonly string[];
  /** Append-only tables (audit log, usage events): the runtime role may only INSERT and SELECT. */
  readonly appendOnly?: boolean;
}

/**
 * Declares a tenant-scoped table in one call, in the form the isolation invariants demand:
 * `organization_id uuid not null` referencing organizations, a primary key (hence an index) leading with
 * `organization_id`, ENABLE + FORCE row level security, one policy for the runtime role with USING and
 * WITH CHECK on `organization_id = app_current_tenant()`, grants for the runtime role, and SELECT + DELETE
 * for the definer role (the organization purge's, see docs/organization-lifecycle.md).
 */
export async function createTenantTable(
  db: Kysely<unknown>,
  ctx: MigrationContext,
  def: TenantTableDefinition,
): Promise<void> {
  for (const n of [def.name, ...def.primaryKey]) {
    if (!NAME.test(n)) throw new Error(`invalid identifier in tenant table definition: ${n}`);
  }
  const t = sql.id(def.name);
  const runtime = sql.id(ctx.roles.runtime);
  const pk = ['organization_id', ...def.primaryKey].map((c) => `"${c}"`).join(', ');
  await sql`create table ${t} (
    organization_id uuid not null references organizations (id) on delete cascade,
    ${sql.raw(def.columns)},
    primary key (${sql.raw(pk)})
  )`.execute(db);
  await enableTenantRls(db, ctx, def.name);
  const privileges = def.appendOnly ? 'select, insert' : 'select, insert, update, delete';
  await sql`grant ${sql.raw(privileges)} on ${t} to ${runtime}`.execute(db);
  // The organization purge (a definer function, migration 0026) deletes every tenant table's rows of the
  // organization being deleted; the catalog test holds every table with organization_id to this grant.
  await sql`grant select, delete on ${t} to ${sql.id(ctx.roles.definer)}`.execute(db);
}

/** ENABLE + FORCE RLS and the tenant policy on an existing table with an `organization_id` column. */
export async function enableTenantRls(
  db: Kysely<unknown>,
  ctx: MigrationContext,
  table: string,
): Promise<void> {
  const t = sql.id(table);
  await sql`alter table ${t} enable row level security`.execute(db);
  await sql`alter table ${t} force row level security`.execute(db);
  await sql`create policy tenant_isolation on ${t} as permissive for all to ${sql.id(ctx.roles.runtime)}
    using (organization_id = app_current_tenant())
    with check (organization_id = app_current_tenant())`.execute(db);
}
