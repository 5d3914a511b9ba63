import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE, PLATFORM_SCOPE } from './sql-helpers.js';

const ROLE = /^[a-z_][a-z0-9_]{0,62}$/;

/** The audit retention of the seeded plans (days; null: kept forever). */
export const SEEDED_AUDIT_RETENTION_DAYS = { free: 90, pro: 365, enterprise: null } as const;

/**
 * Issue 12, retention of audit events (per plan) and of webhook delivery logs (docs/gdpr.md, "Retention").
 *
 * - `plans.audit_retention_days` (null: kept forever): how long an organization on the plan keeps its
 *   audit events. The seeded plans get 90 (free), 365 (pro) and forever (enterprise); every other plan
 *   keeps its events forever until a platform administrator sets a period. `app_platform_plan_save`
 *   writes it (`auditRetentionDays`).
 * - `worker_api.app_retention_purge_audit(now, after, include, limit)`: the ONLY way audit events leave a
 *   live organization. For the first organization (by id, after the cursor) whose plan has a period, it
 *   cuts at the newest signed checkpoint all of whose events are older than the period: deletes at most
 *   `limit` events with seq ≤ that checkpoint's (oldest first, checkpoint segment by segment) and the
 *   checkpoints below the last one deleted, never the cut's own checkpoint (its signed hash is where
 *   verification starts). A chain
 *   with no checkpoint old enough loses nothing. The append-only trigger lets the definer role through
 *   only for the rows under the cut the function names in a transaction-local setting
 *   (`app.audit_retention_cut` = `<organization>/<seq>`), like the organization purge's
 *   `app.purging_organization`. The runtime role still has no DELETE on either table.
 * - `worker_api.app_retention_purge_webhooks(kind, cutoff, limit)`: webhook deliveries that succeeded or
 *   went dead before the cutoff (their attempts, the delivery log, go with them by cascade), and outbox
 *   events dispatched before it that no delivery refers to any more.
 * Both are the worker role's, refused inside a tenant scope, with a limit of 10,000 rows a call.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const definer = sql.id(ctx.roles.definer);
  const worker = sql.id(ctx.roles.worker);
  if (!ROLE.test(ctx.roles.definer)) throw new Error(`invalid definer role name: ${ctx.roles.definer}`);
  const definerLit = sql.lit(ctx.roles.definer);

  // 1. The audit retention of each plan.
  await sql`alter table plans add column audit_retention_days integer
    constraint plans_audit_retention_days check (audit_retention_days between 1 and 36500)`.execute(db);
  for (const [key, days] of Object.entries(SEEDED_AUDIT_RETENTION_DAYS)) {
    if (days !== null) {
      await sql`update plans set audit_retention_days = ${days} where key = ${key}`.execute(db);
    }
  }
  // Migration 0018's function, with the new column (null when absent: kept forever).
  await sql`create or replace function app_platform_plan_save(p_key text, p_plan jsonb, p_create boolean)
    returns setof plans
    language plpgsql volatile security definer set search_path = pg_catalog, public as $$
    declare v_token text; v_actor uuid;
    begin ${sql.raw(PLATFORM_SCOPE('writing the plan catalog'))}
      if p_create then
        return query insert into public.plans as p
            (key, name, description, seat_limit, quotas, entitlements, price, public, audit_retention_days)
          values (p_key, p_plan->>'name', p_plan->>'description', (p_plan->>'seatLimit')::integer,
                  p_plan->'quotas', array(select jsonb_array_elements_text(p_plan->'entitlements')),
                  p_plan->'price', (p_plan->>'public')::boolean, (p_plan->>'auditRetentionDays')::integer)
          on conflict (key) do nothing
          returning p.*;
      else
        return query update public.plans as p set
            name = p_plan->>'name', description = p_plan->>'description',
            seat_limit = (p_plan->>'seatLimit')::integer, quotas = p_plan->'quotas',
            entitlements = array(select jsonb_array_elements_text(p_plan->'entitlements')),
            price = p_plan->'price', public = (p_plan->>'public')::boolean,
            audit_retention_days = (p_plan->>'auditRetentionDays')::integer,
            version = p.version + 1, updated_at = now()
          where p.key = p_key
          returning p.*;
      end if;
    end $$`.execute(db);

  // 2. The append-only guard: migration 0026's, plus the audit retention cut.
  await sql`create or replace function app_audit_refuse_change() returns trigger language plpgsql as $$
    declare v_cut text;
    begin
      if tg_op = 'DELETE' and pg_trigger_depth() > 1 then return old; end if;
      if tg_op = 'DELETE' and tg_table_name <> 'platform_audit_events' and current_user = ${definerLit} then
        if current_setting('app.purging_organization', true) is not null then
          if old.organization_id::text = current_setting('app.purging_organization', true) then
            return old;
          end if;
        end if;
        -- worker_api.app_retention_purge_audit: the events up to the cut, the checkpoints below it.
        v_cut := nullif(current_setting('app.audit_retention_cut', true), '');
        if v_cut is not null and old.organization_id::text = split_part(v_cut, '/', 1) then
          if tg_table_name = 'audit_events' and old.seq <= split_part(v_cut, '/', 2)::bigint then
            return old;
          end if;
          if tg_table_name = 'audit_checkpoints' and old.seq < split_part(v_cut, '/', 2)::bigint then
            return old;
          end if;
        end if;
      end if;
      raise exception 'audit records are append-only: % on % refused', tg_op, tg_table_name
        using errcode = 'insufficient_privilege';
    end $$`.execute(db);

  // 3. The audit retention purge. One call: one organization's batch (or up to 500 organizations looked
  // at with nothing due). Answers the organization it stopped at (the caller's next cursor: `include` it
  // again when `more`), the events deleted, and whether it may have more due; no row once past the last.
  // It walks the chain checkpoint by checkpoint from its first kept entry: the segment up to the next
  // checkpoint goes when all of its events are older than the cutoff, and the walk stops at the first
  // segment holding a newer one. So it cuts at the newest checkpoint all of whose events are older, and
  // each step reads about one segment (an hour of events: checkpoints are hourly), never the whole chain
  // (`+ interval '0'` keeps the check off the occurred_at index: it reads the segment by seq).
  await sql`create function worker_api.app_retention_purge_audit(p_now timestamptz, p_after uuid,
      p_include boolean, p_limit integer)
    returns table (organization_id uuid, deleted integer, more boolean)
    language plpgsql volatile security definer set search_path = pg_catalog, public as $$
    declare v_limit integer := least(greatest(p_limit, 1), 10000); r record; v_cutoff timestamptz;
      v_start bigint; v_cut bigint; v_n integer; v_upto bigint; v_total integer; v_seen integer := 0;
      v_last uuid;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the audit retention purge'))}
      if p_now is null or p_now > now() + interval '5 minutes' then
        raise exception 'the retention instant must not be in the future' using errcode = 'invalid_parameter_value';
      end if;
      for r in select o.id, p.audit_retention_days as days from public.organizations o
          join public.plans p on p.key = o.plan
         where p.audit_retention_days is not null and o.suspension_reason is distinct from 'deletion'
           and (p_after is null or o.id > p_after or (p_include and o.id = p_after))
         order by o.id limit 500 loop
        v_seen := v_seen + 1;
        v_last := r.id;
        v_cutoff := p_now - make_interval(days => r.days);
        v_total := 0;
        select min(e.seq) into v_start from public.audit_events e where e.organization_id = r.id;
        while v_start is not null and v_total < v_limit loop
          -- The next checkpoint at or after the first kept entry (the one before it anchors the chain).
          select min(c.seq) into v_cut from public.audit_checkpoints c
            where c.organization_id = r.id and c.seq >= v_start;
          exit when v_cut is null;
          exit when exists (select 1 from public.audit_events e
            where e.organization_id = r.id and e.seq between v_start and v_cut
              and e.occurred_at + interval '0' >= v_cutoff);
          perform set_config('app.audit_retention_cut', r.id::text || '/' || v_cut::text, true);
          with gone as (
            delete from public.audit_events e
              where e.organization_id = r.id and e.seq in (select x.seq from public.audit_events x
                where x.organization_id = r.id and x.seq between v_start and v_cut
                order by x.seq limit v_limit - v_total)
              returning e.seq)
          select count(*)::integer, max(g.seq) into v_n, v_upto from gone g;
          exit when v_n = 0;
          -- The checkpoints of the entries now gone; the one at v_upto, if any, anchors what is left.
          perform set_config('app.audit_retention_cut', r.id::text || '/' || v_upto::text, true);
          delete from public.audit_checkpoints c where c.organization_id = r.id and c.seq < v_upto;
          v_total := v_total + v_n;
          v_start := v_upto + 1; -- the chain is gapless and went from its start: the next kept entry
        end loop;
        perform set_config('app.audit_retention_cut', '', true);
        if v_total > 0 then
          return query select r.id, v_total, v_total >= v_limit;
          return;
        end if;
      end loop;
      if v_seen = 500 then
        return query select v_last, 0, false;
      end if;
    end $$`.execute(db);

  // 4. Webhook delivery logs and the outbox.
  await sql`create index webhook_deliveries_finished on webhook_deliveries (updated_at)
    where status <> 'pending'`.execute(db);
  await sql`create index webhook_events_dispatched on webhook_events (dispatched_at)
    where dispatched_at is not null`.execute(db);
  await sql`create function worker_api.app_retention_purge_webhooks(p_kind text, p_cutoff timestamptz,
      p_limit integer)
    returns integer
    language plpgsql volatile security definer set search_path = pg_catalog, public as $$
    declare v_limit integer := least(greatest(p_limit, 1), 10000); v_n integer := 0;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the webhook retention purge'))}
      if p_cutoff is null or p_cutoff > now() + interval '5 minutes' then
        raise exception 'the retention cutoff must not be in the future' using errcode = 'invalid_parameter_value';
      end if;
      if p_kind = 'deliveries' then
        -- Rechecked on the row deleted: a redelivery that made one pending again keeps it.
        delete from public.webhook_deliveries d using (select x.organization_id, x.id
            from public.webhook_deliveries x
            where x.status <> 'pending' and x.updated_at < p_cutoff limit v_limit) g
          where d.organization_id = g.organization_id and d.id = g.id
            and d.status <> 'pending' and d.updated_at < p_cutoff;
      elsif p_kind = 'outbox' then
        delete from public.webhook_events e using (select x.organization_id, x.id from public.webhook_events x
            where x.dispatched_at < p_cutoff
              and not exists (select 1 from public.webhook_deliveries d
                               where d.organization_id = x.organization_id and d.event_id = x.id)
            limit v_limit) g
          where e.organization_id = g.organization_id and e.id = g.id;
      else
        raise exception 'unknown kind %', p_kind using errcode = 'invalid_parameter_value';
      end if;
      get diagnostics v_n = row_count;
      return v_n;
    end $$`.execute(db);

  for (const fn of [
    'worker_api.app_retention_purge_audit(timestamptz, uuid, boolean, integer)',
    'worker_api.app_retention_purge_webhooks(text, timestamptz, integer)',
  ]) {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    await sql`grant execute on function ${sql.raw(fn)} to ${worker}`.execute(db);
  }
}
