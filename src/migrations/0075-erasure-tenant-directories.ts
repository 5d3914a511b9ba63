import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/**
 * Erasure reaches the SCIM directory records a tenant database holds (docs/erasure.md, "Organizations in
 * a tenant database"). `app_priv_erasure_directory_organizations` (0067) finds the organizations holding
 * a record of the person in the control database (public and every placement schema); an organization of
 * a `database` placement keeps its `scim_users` in its tenant database, which holds no session to prove
 * an erasure's context with. So erasure queues a job, and the worker asks each tenant database:
 *
 * - `worker_api.app_priv_erasure_tenant_directory(user)`: the ids of the organizations whose
 *   `scim_users` hold a record of that user in THIS database, nothing else (the job then deletes each
 *   record in that organization's own scope, under its lock, as erasure does for the others). SECURITY
 *   DEFINER (the definer reads every organization's rows), EXECUTE for the worker role only (the role of
 *   the other cross-tenant jobs), refused inside a tenant scope.
 * - `erasure.tenant_directories`: the job's task, enqueueable (no tenant; its payload the person's id, sealed).
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const definer = sql.id(ctx.roles.definer);
  const worker = sql.id(ctx.roles.worker);
  await sql`create function worker_api.app_priv_erasure_tenant_directory(p_user uuid)
    returns table (organization_id uuid)
    language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the erasure lookup of a tenant database'))}
      -- A tenant database's placed tables are public's (the search path above; named unqualified as every
      -- function reaching placed tables does).
      return query select distinct s.organization_id from scim_users s where s.user_id = p_user order by 1;
    end $$`.execute(db);
  await sql`alter function worker_api.app_priv_erasure_tenant_directory(uuid) owner to ${definer}`.execute(
    db,
  );
  await sql`revoke all on function worker_api.app_priv_erasure_tenant_directory(uuid) from public`.execute(
    db,
  );
  await sql`grant execute on function worker_api.app_priv_erasure_tenant_directory(uuid) to ${worker}`.execute(
    db,
  );
  await sql`insert into enqueueable_tasks (task, description) values
    ('erasure.tenant_directories', 'an erased person: the worker deletes their SCIM records in tenant databases')`.execute(
    db,
  );
}
