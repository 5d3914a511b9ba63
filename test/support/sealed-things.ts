import pg from 'pg';
import type { ProvisionedDatabase } from './provision.js';

/**
 * Creates `sealed_things` in a provisioned database: a tenant table registered nowhere else (forced RLS,
 * the runtime role's grants, as a migration makes one), for values sealed for an organization's rows in
 * the crypto-shredding tests.
 */
export async function createSealedThingsTable(db: ProvisionedDatabase): Promise<void> {
  const owner = new pg.Client({ connectionString: db.migrationUrl });
  await owner.connect();
  try {
    const runtime = owner.escapeIdentifier(db.roles.runtime);
    await owner.query(`create table sealed_things (
      organization_id uuid not null references organizations (id) on delete cascade,
      id text not null, secret text not null, primary key (organization_id, id))`);
    await owner.query('alter table sealed_things enable row level security');
    await owner.query('alter table sealed_things force row level security');
    await owner.query(`create policy tenant_isolation on sealed_things for all to ${runtime}
      using (organization_id = app_current_tenant()) with check (organization_id = app_current_tenant())`);
    await owner.query(`grant select, insert, update, delete on sealed_things to ${runtime}`);
  } finally {
    await owner.end();
  }
}
