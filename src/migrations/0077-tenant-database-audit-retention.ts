import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';
import { ORG_PATH } from './0039-placement-functions/snippets.js';

/**
 * Audit retention, and the hourly checkpoint scan, of organizations in a `database` placement
 * (docs/isolation-models.md, "Audit checkpoints, the seal sweep and retention"). The purge
 * (`app_retention_purge_audit`) and the scan (`app_priv_audit_chains_to_checkpoint`) read each
 * organization's retention from the organization row and plans of the database they run on: in a tenant
 * database, the row's copy (on the plan it was placed with, never kept in step) and the seeded catalog,
 * while an organization's plan, its grace of a lowered retention and the plan catalog are the control
 * database's (checkpoint signing reads them there). Now, as for quota notices (0074), the tenant database's
 * functions are given the control database's answer:
 *
 * - `worker_api.app_retention_audit_placed(database, now, after, include, limit)` (control database): the
 *   organizations placed in the tenant database `database` (`tenant_placements`, kind `database`), by id
 *   after the cursor, with the audit retention in force at `now` (`app_audit_retention_in_force`, 0069: the
 *   one checkpoint signing states; null: kept forever) and whether a deletion is pending (at most 1000);
 * - `worker_api.app_retention_purge_audit_given(now, after, include, limit, orgs, days)` (tenant database):
 *   0069's purge, over the given organizations (those with a row here; one given twice is refused; a null
 *   retention skips it) with the given retention, instead of this database's plans; no grace bookkeeping
 *   (the control database's run keeps it, and the given retention includes it). The given retention is not
 *   trusted below what the chain itself says: it is raised to the retention stated by the chain's newest
 *   checkpoint (signed by the control database's plan and grace), and an organization whose newest
 *   checkpoint states "forever", or states none (signed before 0069, or none yet), is skipped. Cuts, as
 *   0069, only at a signed checkpoint whose events are all older than that retention, signed before it and
 *   before the shortest retention the checkpoints from it on state (those stating "forever" are older than
 *   the newest, so the plan was lowered since and its grace is over); answers no row when none had
 *   anything due. What it cannot tell: a pending deletion, and whether an organization is placed here (the
 *   row's copy is not kept in step and placement rows are the control database's): the worker's caller
 *   gives those none; one given anyway is purged by its plan only, as the retention its checkpoints state
 *   allows (the deletion purge removes it all later);
 * - `worker_api.app_priv_audit_chains_to_checkpoint_given(key, after, until, limit, orgs, days)` (tenant
 *   database): 0069's scan over ids in (after, until] (until null: no bound), where a given organization's
 *   head needs a checkpoint stating the given retention; an organization not given, a checkpoint at its head
 *   stating any (version 2).
 *
 * The worker role's only, refused inside a tenant scope; `pg_temp` last on every path (0046).
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const definer = sql.id(ctx.roles.definer);
  const worker = sql.id(ctx.roles.worker);

  await sql`create function worker_api.app_retention_audit_placed(p_database text, p_now timestamptz,
      p_after uuid, p_include boolean, p_limit integer)
    returns table (organization_id uuid, retention_days integer, deleting boolean)
    language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the audit retention listing'))}
      if p_database is null or p_now is null then
        raise exception 'a database and an instant are required' using errcode = 'invalid_parameter_value';
      end if;
      return query select o.id, case when l.key is null then null
            else public.app_audit_retention_in_force(l.audit_retention_days, o.audit_retention_seen,
              o.audit_retention_days_seen, o.audit_retention_grace_until, o.audit_retention_grace_days, p_now)
            end,
          o.suspension_reason is not distinct from 'deletion'
        from public.tenant_placements t
        join public.organizations o on o.id = t.organization_id
        left join public.plans l on l.key = o.plan
       where t.kind = 'database' and t.database_key = p_database
         and (p_after is null or o.id > p_after or (p_include and o.id = p_after))
       order by o.id limit least(greatest(p_limit, 1), 1000);
    end $$`.execute(db);

  await sql`create function worker_api.app_retention_purge_audit_given(p_now timestamptz, p_after uuid,
      p_include boolean, p_limit integer, p_orgs uuid[], p_days integer[])
    returns table (organization_id uuid, deleted integer, more boolean)
    language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp as $$
    declare v_limit integer := least(greatest(p_limit, 1), 10000); r record; v_cutoff timestamptz;
      v_start bigint; v_cut bigint; v_n integer; v_total integer; v_more boolean;
      v_stated integer; v_signed integer; v_bound integer; v_days integer; v_head_v integer; v_head_days integer;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the audit retention purge'))}
      if p_now is null or p_now > now() + interval '5 minutes' then
        raise exception 'the retention instant must not be in the future' using errcode = 'invalid_parameter_value';
      end if;
      if coalesce(cardinality(p_orgs), 0) <> coalesce(cardinality(p_days), 0) then
        raise exception 'one retention per organization' using errcode = 'invalid_parameter_value';
      end if;
      if cardinality(p_orgs) > 1000 then
        raise exception 'at most 1000 organizations a call' using errcode = 'program_limit_exceeded';
      end if;
      if exists (select 1 from unnest(p_days) d where d < 1 or d > 36500) then
        raise exception 'an audit retention is 1 to 36500 days' using errcode = 'invalid_parameter_value';
      end if;
      if exists (select 1 from unnest(p_orgs) g (id) group by g.id having count(*) > 1) then
        raise exception 'an organization given twice' using errcode = 'invalid_parameter_value';
      end if;
      for r in select g.id, g.days from unnest(p_orgs, p_days) g (id, days)
         where g.days is not null
           and exists (select 1 from public.organizations o where o.id = g.id)
           and (p_after is null or g.id > p_after or (p_include and g.id = p_after))
         order by g.id loop
        ${sql.raw(ORG_PATH('r.id'))}
        -- The given retention is the caller's word; the chain's newest checkpoint states the retention in
        -- force when it was signed (the control database's plan and grace): never cut by less, nothing when
        -- it states "forever" (null) or states nothing (signed before 0069, or no checkpoint yet).
        v_head_v := null;
        v_head_days := null;
        select c.statement_v, c.retention_days into v_head_v, v_head_days from audit_checkpoints c
          where c.organization_id = r.id order by c.seq desc limit 1;
        continue when v_head_v is distinct from 2 or v_head_days is null;
        v_days := greatest(r.days, v_head_days);
        v_cutoff := p_now - make_interval(days => v_days);
        v_total := 0;
        v_more := false;
        select min(e.seq) into v_start from audit_events e where e.organization_id = r.id;
        while v_start is not null loop
          -- The next checkpoint at or after the first kept entry (the one before it anchors the chain).
          select min(c.seq) into v_cut from audit_checkpoints c
            where c.organization_id = r.id and c.seq >= v_start;
          exit when v_cut is null;
          exit when exists (select 1 from audit_events e
            where e.organization_id = r.id and e.seq between v_start and v_cut
              and e.occurred_at + interval '0' >= v_cutoff);
          -- As 0069: only at a checkpoint signed before that retention and before the shortest one the
          -- signed checkpoints from it on state (min skips those stating "forever": signed before the
          -- newest, which states a period), days of 24 hours.
          select count(*) filter (where c.statement_v = 2),
                 min(c.retention_days) filter (where c.statement_v = 2)
            into v_stated, v_signed from audit_checkpoints c
            where c.organization_id = r.id and c.seq >= v_cut;
          exit when v_stated > 0 and v_signed is null;
          v_bound := greatest(v_days, coalesce(v_signed, v_days));
          exit when not exists (select 1 from audit_checkpoints c
            where c.organization_id = r.id and c.seq = v_cut
              and c.signed_at < p_now - make_interval(hours => v_bound * 24));
          -- A whole segment or none (the chain is gapless: v_cut - v_start + 1 events).
          if v_total > 0 and v_cut - v_start + 1 > v_limit - v_total then
            v_more := true;
            exit;
          end if;
          perform set_config('app.audit_retention_cut', r.id::text || '/' || v_cut::text, true);
          delete from audit_events e
            where e.organization_id = r.id and e.seq between v_start and v_cut;
          get diagnostics v_n = row_count;
          exit when v_n = 0;
          delete from audit_checkpoints c where c.organization_id = r.id and c.seq < v_cut;
          -- Recorded on the row's copy here (verification reads the control database's row, whose bound is
          -- used only for chains without a checkpoint stating a retention, which this purge never cuts).
          update public.organizations o set audit_retention_cut_days = v_days where o.id = r.id;
          v_total := v_total + v_n;
          v_start := v_cut + 1;
          if v_total >= v_limit then
            v_more := true;
            exit;
          end if;
        end loop;
        perform set_config('app.audit_retention_cut', '', true);
        if v_total > 0 then
          return query select r.id, v_total, v_more;
          return;
        end if;
      end loop;
    end $$`.execute(db);

  await sql`create function worker_api.app_priv_audit_chains_to_checkpoint_given(p_key_id text, p_after uuid,
      p_until uuid, p_limit integer, p_orgs uuid[], p_days integer[])
    returns table (organization_id uuid)
    language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp as $$
    declare v_limit integer := least(greatest(p_limit, 1), 1000); v_schema text; v_ids uuid[] := '{}';
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the checkpoint scan'))}
      if coalesce(cardinality(p_orgs), 0) <> coalesce(cardinality(p_days), 0) then
        raise exception 'one retention per organization' using errcode = 'invalid_parameter_value';
      end if;
      if cardinality(p_orgs) > 1000 then
        raise exception 'at most 1000 organizations a call' using errcode = 'program_limit_exceeded';
      end if;
      for v_schema in select public.app_placement_schemas() loop
        perform set_config('search_path', 'pg_catalog, ' || quote_ident(v_schema) || ', public, pg_temp', true);
        v_ids := v_ids || array(select o.organization_id from (
            select h.organization_id from audit_chain_heads h
              join public.organizations g on g.id = h.organization_id
              left join unnest(p_orgs, p_days) x (id, days) on x.id = h.organization_id
              where not exists (select 1 from audit_checkpoints c
                where c.organization_id = h.organization_id and c.key_id = p_key_id and c.seq = h.seq
                  and c.statement_v = 2
                  and (x.id is null or c.retention_days is not distinct from x.days))
            union
            select distinct p.organization_id from audit_pending p
              where exists (select 1 from public.organizations o where o.id = p.organization_id)) o
          where (p_after is null or o.organization_id > p_after)
            and (p_until is null or o.organization_id <= p_until)
          order by o.organization_id limit v_limit);
      end loop;
      return query select distinct u.id from unnest(v_ids) u (id) order by u.id limit v_limit;
    end $$`.execute(db);

  for (const fn of [
    'worker_api.app_retention_audit_placed(text, timestamptz, uuid, boolean, integer)',
    'worker_api.app_retention_purge_audit_given(timestamptz, uuid, boolean, integer, uuid[], integer[])',
    'worker_api.app_priv_audit_chains_to_checkpoint_given(text, uuid, uuid, integer, uuid[], integer[])',
  ]) {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    await sql`grant execute on function ${sql.raw(fn)} to ${worker}`.execute(db);
  }
}
