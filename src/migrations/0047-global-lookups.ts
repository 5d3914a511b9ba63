import { sql, type Kysely } from 'kysely';
import { enableTenantRls, type MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/**
 * Issue 14, item 1: no unique key of a tenant table without `organization_id` in front, so every tenant
 * table can be distributed by it on Citus (src/platform/tenancy/citus-tables.ts; the readiness test reads
 * the catalog). Four keys were global because something finds the row before the organization is known:
 *
 * - `api_keys.key_id` (API key authentication), `invitations.token_hash` (an invitation link),
 *   `stripe_customers.customer_id` (a Stripe webhook): each gets a GLOBAL LOOKUP, `api_key_lookup`,
 *   `invitation_lookup`, `stripe_customer_lookup`, primary key the global key, naming the organization
 *   (and the row). Citus keeps them as reference tables; a schema placement keeps them in `public`
 *   (DIRECTORY_TABLES). The tenant tables' keys become `(organization_id, …)`; the global uniqueness
 *   of a key id, token hash or customer id is now the lookup's primary key.
 * - `invoices.number`: global uniqueness comes from `invoice_number_counter` (one row, incremented under its
 *   row lock by `app_invoice_finalize`, the only writer of `number`: the runtime role may not set it), and
 *   nothing finds an invoice by number alone, so the key becomes `(organization_id, number)`.
 *
 * Who writes a lookup: the runtime role, in the SAME transaction as the tenant row (the repositories of
 * api-keys, invitations and billing write both; no trigger: Citus refuses triggers on distributed tables).
 * The lookups carry `organization_id`, so they are tenant tables like any other: ENABLE + FORCE row level
 * security and the one policy, `organization_id = app_current_tenant()` for USING and WITH CHECK. So the
 * runtime role reads, adds and removes only its own organization's lookup rows: it cannot read another
 * organization's, cannot point an existing key at another organization (the primary key refuses a second
 * row, and it has no UPDATE), and a row it adds names its own organization. Invitations only: DELETE, the
 * old token's row when a resend replaces the token. The definer role reads them (the lookups below) and
 * deletes them (the organization purge, which takes every table with `organization_id`, and the
 * invitation retention purge).
 *
 * A stale lookup row never resolves to anything: each lookup function reads the tenant row again WITH
 * `organization_id = <the lookup's>` (one shard on Citus) and the key itself (key id and secret hash,
 * token hash, customer id), so a row whose tenant row is gone or changed finds nothing. Stale rows are
 * also removed: the organization purge and `organizations(id) on delete cascade` take an organization's,
 * the invitation retention purge takes its invitations' (rewritten below), a resend the old token's.
 * Revoked keys and accepted or revoked invitations keep theirs (the tenant row stays, and says revoked).
 */
const LOOKUPS = ['api_key_lookup', 'invitation_lookup', 'stripe_customer_lookup'];

export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);

  await sql`create table api_key_lookup (
    key_id text primary key check (key_id ~ '^[0-9a-f]{16}$'),
    organization_id uuid not null references organizations (id) on delete cascade,
    api_key_id uuid not null
  )`.execute(db);
  await sql`create unique index api_key_lookup_organization on api_key_lookup (organization_id, api_key_id)`.execute(
    db,
  );
  await sql`create table invitation_lookup (
    token_hash bytea primary key check (octet_length(token_hash) = 32),
    organization_id uuid not null references organizations (id) on delete cascade,
    invitation_id uuid not null
  )`.execute(db);
  await sql`create unique index invitation_lookup_organization
    on invitation_lookup (organization_id, invitation_id)`.execute(db);
  // One Stripe customer per organization, as in stripe_customers (whose primary key is organization_id).
  await sql`create table stripe_customer_lookup (
    customer_id text primary key check (customer_id ~ '^[A-Za-z0-9_]{1,255}$'),
    organization_id uuid not null references organizations (id) on delete cascade
  )`.execute(db);
  await sql`create unique index stripe_customer_lookup_organization
    on stripe_customer_lookup (organization_id)`.execute(db);

  for (const t of LOOKUPS) {
    await enableTenantRls(db, ctx, t);
    await sql`grant select, delete on ${sql.id(t)} to ${definer}`.execute(db);
  }
  await sql`grant select, insert on api_key_lookup, stripe_customer_lookup to ${runtime}`.execute(db);
  await sql`grant select, insert, delete on invitation_lookup to ${runtime}`.execute(db);

  // Backfill, with FORCE lifted inside this migration's transaction (the owner role has no policy of its
  // own on these tables, so it sees no row under FORCE).
  const backfilled = ['api_keys', 'invitations', 'stripe_customers', ...LOOKUPS];
  for (const t of backfilled) await sql`alter table ${sql.id(t)} no force row level security`.execute(db);
  await sql`insert into api_key_lookup (key_id, organization_id, api_key_id)
    select k.key_id, k.organization_id, k.id from api_keys k`.execute(db);
  await sql`insert into invitation_lookup (token_hash, organization_id, invitation_id)
    select i.token_hash, i.organization_id, i.id from invitations i`.execute(db);
  await sql`insert into stripe_customer_lookup (customer_id, organization_id)
    select c.customer_id, c.organization_id from stripe_customers c`.execute(db);
  for (const t of backfilled) await sql`alter table ${sql.id(t)} force row level security`.execute(db);

  // The tenant tables' keys, organization first.
  await sql`drop index api_keys_key_id_key`.execute(db);
  await sql`create unique index api_keys_key_id_key on api_keys (organization_id, key_id)`.execute(db);
  await sql`drop index invitations_token_key`.execute(db);
  await sql`create unique index invitations_token_key on invitations (organization_id, token_hash)`.execute(
    db,
  );
  await sql`drop index stripe_customers_customer_key`.execute(db);
  await sql`create unique index stripe_customers_customer_key
    on stripe_customers (organization_id, customer_id)`.execute(db);
  await sql`drop index invoices_number_key`.execute(db);
  await sql`create unique index invoices_number_key on invoices (organization_id, number)`.execute(db);

  // The pre-tenant lookups, restated in full (same signatures, owner, grants and refusals as 0009 and
  // 0021): the organization from the lookup, then the tenant row read with organization_id.
  await sql`create or replace function app_priv_api_key_by_key_id(p_key_id text, p_secret_hash bytea)
    returns table (organization_id uuid, id uuid, scopes text[], expires_at timestamptz,
                   revoked_at timestamptz, rate_limit_per_minute integer)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_org uuid; v_id uuid;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the API key lookup'))}
      select l.organization_id, l.api_key_id into v_org, v_id from public.api_key_lookup l
        where l.key_id = p_key_id;
      if v_org is null then return; end if;
      return query select k.organization_id, k.id, k.scopes, k.expires_at, k.revoked_at,
                 k.rate_limit_per_minute
          from public.api_keys k
          where k.organization_id = v_org and k.id = v_id and k.key_id = p_key_id
            and k.secret_hash = p_secret_hash;
    end $$`.execute(db);
  await sql`create or replace function app_priv_invitation_by_token(p_hash bytea)
    returns table (organization_id uuid, invitation_id uuid)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_org uuid; v_id uuid;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('invitation lookup'))}
      select l.organization_id, l.invitation_id into v_org, v_id from public.invitation_lookup l
        where l.token_hash = p_hash;
      if v_org is null then return; end if;
      return query select i.organization_id, i.id from public.invitations i
          where i.organization_id = v_org and i.id = v_id and i.token_hash = p_hash;
    end $$`.execute(db);
  await sql`create or replace function app_priv_stripe_organization_by_customer(p_customer text)
    returns uuid
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_org uuid;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the Stripe customer lookup'))}
      select l.organization_id into v_org from public.stripe_customer_lookup l where l.customer_id = p_customer;
      if v_org is null then return null; end if;
      return (select c.organization_id from public.stripe_customers c
               where c.organization_id = v_org and c.customer_id = p_customer);
    end $$`.execute(db);

  // The invitation retention purge (0039's worker_api.app_retention_purge) takes the lookup rows of the
  // invitations it deletes, in the same statement. Rewritten from its own definition like 0046 does: the
  // rest of the function stays as it is, and a definition without the text replaced fails the migration.
  const purge = 'worker_api.app_retention_purge(text, timestamptz, integer)';
  const from = `        delete from public.invitations i using (select x.organization_id, x.id from public.invitations x
            where (x.status = 'accepted' and x.accepted_at < p_cutoff)
               or (x.status <> 'accepted' and x.expires_at < p_cutoff)
            limit v_limit) d
          where i.organization_id = d.organization_id and i.id = d.id;
        get diagnostics v_n = row_count;`;
  const to = `        with gone as (delete from public.invitations i using (select x.organization_id, x.id
              from public.invitations x
              where (x.status = 'accepted' and x.accepted_at < p_cutoff)
                 or (x.status <> 'accepted' and x.expires_at < p_cutoff)
              limit v_limit) d
            where i.organization_id = d.organization_id and i.id = d.id
            returning i.organization_id, i.id),
          lookups as (delete from public.invitation_lookup l using gone
            where l.organization_id = gone.organization_id and l.invitation_id = gone.id returning 1)
          select count(*)::integer into v_n from gone;`;
  const res = await sql<{ def: string }>`select pg_get_functiondef(${purge}::regprocedure) as def`.execute(
    db,
  );
  const def = res.rows[0]?.def ?? '';
  if (!def.includes(from))
    throw new Error(`0047: ${purge} does not purge invitations as this migration amends`);
  await sql.raw(def.replace(from, to)).execute(db);
}
