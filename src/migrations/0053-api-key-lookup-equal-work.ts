import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/**
 * An unknown API key id answers like another organization's key id with a wrong secret (ISOLATION.md #6:
 * no timing difference worth measuring). 0047's lookup returned at once when `api_key_lookup` had no row,
 * and read `api_keys` only when it had one: a known key id cost one more query than an unknown one, and on
 * Citus that query is a round trip to a worker (api_keys is distributed), milliseconds an attacker can
 * measure to learn which key ids exist. Now the tenant table is read in both cases, an unknown key id
 * with the nil organization and key id (which name no key: the key id and secret hash must match too), so both do the same work and,
 * on Citus, route to one shard each. Restated in full from 0047 (same signature, owner, grants, refusal
 * inside a tenant scope); only the early return goes.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await sql`create or replace function app_priv_api_key_by_key_id(p_key_id text, p_secret_hash bytea)
    returns table (organization_id uuid, id uuid, scopes text[], expires_at timestamptz,
                   revoked_at timestamptz, rate_limit_per_minute integer)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_org uuid; v_id uuid;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the API key lookup'))}
      select l.organization_id, l.api_key_id into v_org, v_id from public.api_key_lookup l
        where l.key_id = p_key_id;
      -- Unknown: the nil ids, which name no key (and a plain parameter routes to one shard on Citus).
      v_org := coalesce(v_org, '00000000-0000-0000-0000-000000000000'::uuid);
      v_id := coalesce(v_id, '00000000-0000-0000-0000-000000000000'::uuid);
      return query select k.organization_id, k.id, k.scopes, k.expires_at, k.revoked_at,
                 k.rate_limit_per_minute
          from public.api_keys k
          where k.organization_id = v_org and k.id = v_id
            and k.key_id = p_key_id and k.secret_hash = p_secret_hash;
    end $$`.execute(db);
}
