import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

const OUTSIDE_TENANT_SCOPE = (what: string) => `
      if public.app_current_tenant() is not null then
        raise exception '% is refused inside a tenant scope', '${what}' using errcode = 'insufficient_privilege';
      end if;`;

/**
 * Issue 11, the local provider closes each period itself (src/modules/billing/period-close.ts). The hourly
 * job must name every organization that may have a period to close; no existing path enumerates them all
 * (the checkpoint scan names only organizations whose audit chain moved, the seal sweep only those with
 * pending events). This adds the worker role's function for it, in `worker_api` like the others: ids only,
 * of organizations created before a given instant (one created later has no ended period), by id, at most
 * 1,000 a page. Refused inside a tenant scope. Which periods to close and whether they have an invoice is
 * then decided inside each organization's own tenant scope, by the runtime role.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const definer = sql.id(ctx.roles.definer);
  const worker = sql.id(ctx.roles.worker);

  await sql`create function worker_api.app_priv_billing_organizations(p_created_before timestamptz,
      p_after uuid, p_limit integer)
    returns table (organization_id uuid)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the period close scan'))}
      return query select o.id from public.organizations o
        where o.created_at < p_created_before and (p_after is null or o.id > p_after)
        order by o.id limit least(greatest(p_limit, 1), 1000);
    end $$`.execute(db);
  const fn = 'worker_api.app_priv_billing_organizations(timestamptz, uuid, integer)';
  await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
  await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
  await sql`grant execute on function ${sql.raw(fn)} to ${worker}`.execute(db);
}
