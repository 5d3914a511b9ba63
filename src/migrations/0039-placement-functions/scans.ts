import { sql, type Kysely } from 'kysely';
import { OUTSIDE_TENANT_SCOPE } from '../sql-helpers.js';
import { SCHEMA_ORGS, SCHEMA_PATH } from './snippets.js';

/**
 * The worker's cross-tenant scans (0023 period close, 0021/0029 Stripe, 0025/0033 webhooks, 0027 account
 * export) follow schema placements. A scan of directory rows (organizations, stripe_customers) that checks
 * placed tables visits `public` for every organization without a schema of its own, then each schema
 * placement's organization in its schema; a scan of placed rows visits every schema. Each visit takes the
 * first page after the cursor, then the first of them all is returned: the same page, the same cursor,
 * whichever schema an organization is in.
 */
export async function scanFunctions(db: Kysely<unknown>): Promise<void> {
  await sql`create or replace function worker_api.app_priv_billing_organizations(p_cutoff date, p_after uuid,
      p_limit integer)
    returns table (organization_id uuid, starts_on date)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare
      v_start date;
      v_month date := date_trunc('month', p_cutoff)::date;
      v_year date := date_trunc('year', p_cutoff)::date;
      v_limit integer := least(greatest(p_limit, 1), 1000);
      v_placed uuid[]; v_org uuid; v_ids uuid[] := '{}';
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the period close scan'))}
      select s.starts_on into v_start from public.billing_close_start s;
      if v_start is null or v_month <= v_start then
        return;
      end if;
      v_placed := ${sql.raw(SCHEMA_ORGS)};
      -- null: every organization in public; then each one with a schema of its own.
      for v_org in select null::uuid union all select unnest(v_placed) loop
        perform set_config('search_path', case when v_org is null then 'pg_catalog, public'
          else public.app_placement_search_path(v_org) end, true);
        v_ids := v_ids || array(select o.id from public.organizations o
          where (case when v_org is null then not (o.id = any (v_placed)) else o.id = v_org end)
            and o.created_at < (v_month::timestamp at time zone 'UTC')
            and (p_after is null or o.id > p_after)
            and not exists (select 1 from invoices i
              where i.organization_id = o.id and i.period_end = v_month)
            and not (
              exists (select 1 from public.plans p where p.key = o.plan and p.price->>'interval' = 'year')
              and exists (select 1 from invoices i
                where i.organization_id = o.id and i.period_end = v_year)
              and not exists (select 1 from organization_plan_changes c
                where c.organization_id = o.id and c.changed_at >= (v_year::timestamp at time zone 'UTC')))
          order by o.id limit v_limit);
      end loop;
      return query select u.id, v_start from unnest(v_ids) u (id) order by u.id limit v_limit;
    end $$`.execute(db);

  await sql`create or replace function worker_api.app_priv_stripe_organizations(p_kind text, p_now timestamptz,
      p_after uuid, p_limit integer)
    returns table (organization_id uuid)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_limit integer := least(greatest(p_limit, 1), 1000); v_placed uuid[]; v_org uuid;
      v_ids uuid[] := '{}';
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the Stripe organization scan'))}
      if p_kind = 'grace_expired' then
        return query select c.organization_id from public.stripe_customers c
          where c.status = 'past_due' and not c.suspended_by_billing and c.grace_ends_at <= p_now
            and not exists (select 1 from public.organizations o
                            where o.id = c.organization_id and o.suspended_at is not null)
            and (p_after is null or c.organization_id > p_after)
          order by c.organization_id limit v_limit;
      elsif p_kind = 'subscribed' then
        -- Pending meter pushes are placed rows: each organization's in its own schema.
        v_placed := ${sql.raw(SCHEMA_ORGS)};
        for v_org in select null::uuid union all select unnest(v_placed) loop
          perform set_config('search_path', case when v_org is null then 'pg_catalog, public'
            else public.app_placement_search_path(v_org) end, true);
          v_ids := v_ids || array(select c.organization_id from public.stripe_customers c
            where (case when v_org is null then not (c.organization_id = any (v_placed))
                   else c.organization_id = v_org end)
              and (c.subscription_id is not null
                   or exists (select 1 from stripe_meter_pushes p
                              where p.organization_id = c.organization_id and p.status = 'pending'))
              and (p_after is null or c.organization_id > p_after)
            order by c.organization_id limit v_limit);
        end loop;
        return query select u.id from unnest(v_ids) u (id) order by u.id limit v_limit;
      else
        raise exception 'unknown kind %', p_kind using errcode = 'invalid_parameter_value';
      end if;
    end $$`.execute(db);

  await sql`create or replace function worker_api.app_priv_webhook_stuck_deliveries(p_before timestamptz,
      p_limit integer)
    returns table (organization_id uuid, id uuid)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_limit integer := least(greatest(coalesce(p_limit, 100), 1), 1000); v_schema text;
      v_found jsonb := '[]';
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the stuck webhook delivery scan'))}
      if p_before is null or p_before > now() - interval '1 minute' then
        raise exception 'the stuck webhook delivery scan looks only at attempts due a minute ago or earlier'
          using errcode = 'invalid_parameter_value';
      end if;
      for v_schema in select public.app_placement_schemas() loop ${sql.raw(SCHEMA_PATH('v_schema'))}
        v_found := v_found || coalesce((select jsonb_agg(jsonb_build_array(x.organization_id, x.id,
              x.next_attempt_at) order by x.next_attempt_at)
            from (select d.organization_id, d.id, d.next_attempt_at from webhook_deliveries d
                   where d.status = 'pending' and d.next_attempt_at < p_before
                   order by d.next_attempt_at limit v_limit) x), '[]');
      end loop;
      return query select (f ->> 0)::uuid, (f ->> 1)::uuid from jsonb_array_elements(v_found) f
        order by (f ->> 2)::timestamptz limit v_limit;
    end $$`.execute(db);

  await sql`create or replace function worker_api.app_priv_account_export_rows(p_export uuid, p_kind text,
      p_after_org uuid, p_after_seq bigint, p_limit integer)
    returns table (organization_id uuid, seq bigint, data jsonb)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_user uuid; v_limit integer := least(greatest(p_limit, 1), 1000); v_schema text;
      v_found jsonb := '[]';
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the account export read'))}
      select e.user_id into v_user from public.account_exports e
        where e.id = p_export and e.status = 'running';
      if v_user is null then
        raise exception 'the account export read needs a running account export'
          using errcode = 'insufficient_privilege';
      end if;
      if p_kind = 'memberships' then
        return query select m.organization_id, 0::bigint,
            to_jsonb(m) || jsonb_build_object('organization_slug', o.slug, 'organization_name', o.name)
          from public.memberships m join public.organizations o on o.id = m.organization_id
          where m.user_id = v_user and (p_after_org is null or m.organization_id > p_after_org)
          order by m.organization_id limit v_limit;
      elsif p_kind = 'audit_events' then
        -- Each schema's first page after the (organization, seq) cursor, then the first of them all.
        for v_schema in select public.app_placement_schemas() loop ${sql.raw(SCHEMA_PATH('v_schema'))}
          v_found := v_found || coalesce((select jsonb_agg(jsonb_build_array(x.organization_id, x.seq, x.data)
                order by x.organization_id, x.seq)
              from (select a.organization_id, a.seq, to_jsonb(a) as data from audit_events a
                     where a.actor_type = 'user' and a.actor_id = v_user::text
                       and (p_after_org is null
                            or (a.organization_id, a.seq) > (p_after_org, coalesce(p_after_seq, 0)))
                     order by a.organization_id, a.seq limit v_limit) x), '[]');
        end loop;
        return query select (f ->> 0)::uuid, (f ->> 1)::bigint, f -> 2 from jsonb_array_elements(v_found) f
          order by (f ->> 0)::uuid, (f ->> 1)::bigint limit v_limit;
      else
        raise exception 'unknown kind %', p_kind using errcode = 'invalid_parameter_value';
      end if;
    end $$`.execute(db);
}
