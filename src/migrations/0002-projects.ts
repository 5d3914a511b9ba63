import { sql, type Kysely } from 'kysely';
import { createTenantTable, type MigrationContext } from '../platform/tenancy/migration-helpers.js';

/** The example tenant-scoped resource. */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  await createTenantTable(db, ctx, {
    name: 'projects',
    columns: `id uuid not null,
      name text not null check (char_length(name) between 1 and 200),
      description text check (char_length(description) <= 2000),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()`,
    primaryKey: ['id'],
  });
  await sql`create unique index projects_name_key on projects (organization_id, lower(name))`.execute(db);
}
