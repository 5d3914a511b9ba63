import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE, PLATFORM_SCOPE } from './sql-helpers.js';

/**
 * An unknown API key id answers like another organization's key id with a wrong secret (ISOLATION.md #6:
 * no timing difference worth measuring). 0047's lookup returned at once when `api_key_lookup` had no row,
 * and read `api_keys` only when it had one: a known key id cost one more query than an unknown one, and on
 * Citus that query is a round trip to a worker (api_keys is distributed), milliseconds an attacker can
 * measure to learn which key ids exist. Now the tenant table is read in both cases, an unknown key id
 * with the nil organization and key id (which name no key: the key id and secret hash must match too), so both do the same work and,
 * on Citus, route to one shard each. Restated in full from 0047 (same signature, owner, grants, refusal
 * inside a tenant scope); only the early return goes.
 *
 * Also `app_priv_platform_organizations_pending_deletion` (0026): it counted members with the same
 * sub-select correlating `organizations` (a reference table on Citus) with `memberships` (distributed)
 * that 0048 took out of `app_priv_platform_organizations`, because Citus cannot plan it; 0048 missed this
 * one. Restated from 0026 the way 0048 did the other: the page of organizations, then the counts of
 * their active members grouped by organization_id. Same signature, results and order.
 *
 * And the runtime role's UPDATE on `stripe_customers` no longer reaches `customer_id` (nor
 * `organization_id`): before 0047 the global unique key on `customer_id` kept an organization from taking
 * another's Stripe customer id; with the key `(organization_id, customer_id)`, an UPDATE of its own row to
 * another organization's customer id passed, and its checkout, portal and meter pushes would then have
 * addressed that organization's Stripe customer (the lookup still names the first organization, so
 * webhooks were not misrouted). No code updates the customer id: it is written once, with its lookup row.
 */
/** The columns of stripe_customers the runtime role updates: every one but the customer id and the
 *  organization (see the comment above). */
const STRIPE_CUSTOMER_UPDATABLE = [
  'subscription_id',
  'subscription_started_at',
  'status',
  'status_event_at',
  'subscription_event_at',
  'grace_ends_at',
  'suspended_by_billing',
  'checkout_session_id',
  'created_at',
  'updated_at',
  'ended_subscription_ids',
  'subscription_ended_at',
  'failed_invoice_id',
];

export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
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

  await sql`create or replace function app_priv_platform_organizations_pending_deletion(p_after_due timestamptz,
      p_after uuid, p_limit integer)
    returns table (id uuid, slug text, name text, personal boolean, members bigint, lifecycle_state text,
                   deletion_requested_at timestamptz, deletion_due_at timestamptz)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_token text; v_actor uuid; v_ids uuid[]; v_counted uuid[]; v_counts bigint[];
    begin ${sql.raw(PLATFORM_SCOPE('the platform list of organizations pending deletion'))}
      v_ids := array(select o.id from public.organizations o
          where o.deletion_due_at is not null
            and (p_after is null or (o.deletion_due_at, o.id) > (p_after_due, p_after))
          order by o.deletion_due_at, o.id limit least(greatest(p_limit, 1), 200));
      select coalesce(array_agg(c.organization_id), '{}'), coalesce(array_agg(c.n), '{}')
        into v_counted, v_counts
        from (select m.organization_id, count(*) as n from public.memberships m
               where m.organization_id = any (v_ids) and m.status = 'active'
               group by m.organization_id) c;
      return query select o.id, o.slug, o.name, o.personal,
                 coalesce(v_counts[array_position(v_counted, o.id)], 0),
                 case when o.suspension_reason = 'deletion' then 'deleting' else o.lifecycle_state end,
                 o.deletion_requested_at, o.deletion_due_at
          from public.organizations o where o.id = any (v_ids)
          order by o.deletion_due_at, o.id;
    end $$`.execute(db);

  const runtime = sql.id(ctx.roles.runtime);
  await sql`revoke update on stripe_customers from ${runtime}`.execute(db);
  await sql`grant update (${sql.join(STRIPE_CUSTOMER_UPDATABLE.map((c) => sql.id(c)))}) on stripe_customers
    to ${runtime}`.execute(db);
}
