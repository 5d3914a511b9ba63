import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/**
 * Single sign-on follow-ups (docs/saml.md, docs/sso.md):
 *
 * - `sso_connections.saml_email_attribute`: the SAML attribute holding the user's email address; null
 *   keeps the NameID (emailAddress format) as the address.
 * - `worker_api.app_priv_sso_purge_expired(limit)`: the scheduled purge of expired SAML pending requests
 *   and assertion replay entries (placed tables) of every organization, schema by schema of
 *   `app_placement_schemas()`, at most `limit` rows (1 to 10000) a call, shared by the schemas and both
 *   tables: a call deleting fewer rows than its limit means none is left. The worker role only, outside any
 *   tenant scope. The global tables (`sso_flows`, `social_sign_in_flows`, `passkey_challenges`) are purged
 *   by plain deletes of the runtime role.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  await sql`alter table sso_connections add column saml_email_attribute text
    check (saml_email_attribute is null or char_length(saml_email_attribute) between 1 and 256)`.execute(db);

  await sql`create function worker_api.app_priv_sso_purge_expired(p_limit integer) returns integer
    language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp as $$
    declare v_limit integer := least(greatest(coalesce(p_limit, 1000), 1), 10000); v_n integer := 0;
      v_k integer; v_schema text;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the expired SAML rows purge'))}
      for v_schema in select public.app_placement_schemas() loop 
        perform set_config('search_path', 'pg_catalog, ' || quote_ident(v_schema) || ', public, pg_temp', true);
        delete from saml_pending_requests r using (select x.organization_id, x.request_id
            from saml_pending_requests x where x.expires_at <= now() limit v_limit - v_n) d
          where r.organization_id = d.organization_id and r.request_id = d.request_id;
        get diagnostics v_k = row_count;
        v_n := v_n + v_k;
        exit when v_n >= v_limit;
        delete from saml_assertion_replays r using (select x.organization_id, x.assertion_id
            from saml_assertion_replays x where x.expires_at <= now() limit v_limit - v_n) d
          where r.organization_id = d.organization_id and r.assertion_id = d.assertion_id;
        get diagnostics v_k = row_count;
        v_n := v_n + v_k;
        exit when v_n >= v_limit;
      end loop;
      return v_n;
    end $$`.execute(db);
  const fn = 'worker_api.app_priv_sso_purge_expired(integer)';
  await sql`alter function ${sql.raw(fn)} owner to ${sql.id(ctx.roles.definer)}`.execute(db);
  await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
  await sql`grant execute on function ${sql.raw(fn)} to ${sql.id(ctx.roles.worker)}`.execute(db);
}
