import { sql, type Kysely } from 'kysely';
import { OUTSIDE_TENANT_SCOPE } from '../sql-helpers.js';
import { ORG_PATH, SCHEMA_PATH, TENANT_PATH } from './snippets.js';

/**
 * The audit log's definer functions follow schema placements: the sealer moves the scope's pending events
 * in the organization's own schema, the seal sweep and the checkpoint scan look in every schema, and the
 * retention purge works in each organization's schema. Bodies, contracts and refusals as in 0016, 0031,
 * 0036 and 0037, the placed tables now unqualified (`public.` would ignore the search path).
 * `app_audit_pending_admit` (the trigger on every audit_pending, in any schema) needs no change: it reads
 * no table and numbers rows from `public.audit_pending_pending_id_seq`, one order for every schema.
 */
export async function auditFunctions(db: Kysely<unknown>): Promise<void> {
  await sql`create or replace function app_audit_seal(p_org uuid, p_max integer, p_wait boolean)
    returns integer
    language plpgsql volatile security definer set search_path = pg_catalog, public
      set plan_cache_mode = force_generic_plan as $$
    declare v_seq bigint; v_prev bytea; v_hash bytea; r record;
      v_ids bigint[] := '{}'; v_seqs bigint[] := '{}'; v_prevs bytea[] := '{}'; v_hashes bytea[] := '{}';
      v_moved integer;
    begin
      if p_org is null or p_org is distinct from public.app_current_tenant() then
        raise exception 'audit seal outside the tenant scope of its organization'
          using errcode = 'insufficient_privilege';
      end if; ${sql.raw(TENANT_PATH)}
      if not exists (select 1 from audit_pending p where p.organization_id = p_org) then
        return 0;
      end if;
      if p_wait then
        select h.seq, h.hash into v_seq, v_prev from audit_chain_heads h
          where h.organization_id = p_org for update;
      else
        select h.seq, h.hash into v_seq, v_prev from audit_chain_heads h
          where h.organization_id = p_org for update skip locked;
      end if;
      if not found then
        if exists (select 1 from audit_chain_heads h where h.organization_id = p_org) then
          return -1; -- another sealer holds the head (p_wait false)
        end if;
        insert into audit_chain_heads (organization_id, seq, hash)
          values (p_org, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
          on conflict (organization_id) do nothing;
        select h.seq, h.hash into v_seq, v_prev from audit_chain_heads h
          where h.organization_id = p_org for update;
      end if;
      -- A new statement, so a new snapshot: it sees what the previous holder of the lock left.
      for r in select p.pending_id, p.prefix, p.suffix from audit_pending p
          where p.organization_id = p_org order by p.pending_id limit greatest(p_max, 1) loop
        v_seq := v_seq + 1;
        v_hash := sha256(v_prev || convert_to(r.prefix || v_seq::text || r.suffix, 'UTF8'));
        v_ids := v_ids || r.pending_id;
        v_seqs := v_seqs || v_seq;
        v_prevs := v_prevs || v_prev;
        v_hashes := v_hashes || v_hash;
        v_prev := v_hash;
      end loop;
      if cardinality(v_ids) = 0 then
        return 0;
      end if;
      with moved as (
        delete from audit_pending p where p.organization_id = p_org and p.pending_id = any (v_ids)
        returning p.*
      )
      insert into audit_events (organization_id, seq, id, occurred_at, actor_type, actor_id, action,
          target_type, target_id, ip, user_agent, request_id, changes, metadata, prev_hash, hash)
        select m.organization_id, x.seq, m.id, m.occurred_at, m.actor_type, m.actor_id, m.action,
            m.target_type, m.target_id, m.ip, m.user_agent, m.request_id, m.changes, m.metadata, x.prev, x.hash
          from moved m join unnest(v_ids, v_seqs, v_prevs, v_hashes) as x (pending_id, seq, prev, hash)
            on x.pending_id = m.pending_id;
      get diagnostics v_moved = row_count;
      if v_moved <> cardinality(v_ids) then
        -- A row vanished between reading and moving it: chaining the rest would leave a gap.
        raise exception 'audit seal of % moved % of % events', p_org, v_moved, cardinality(v_ids);
      end if;
      update audit_chain_heads h set seq = v_seq, hash = v_prev, updated_at = now()
        where h.organization_id = p_org;
      return v_moved;
    end $$`.execute(db);

  // Each schema's first organizations after p_after, then the first of them all: a page is the same
  // whichever schema an organization is in.
  await sql`create or replace function worker_api.app_priv_audit_orgs_pending(p_after uuid, p_limit integer)
    returns table (organization_id uuid)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_limit integer := least(greatest(p_limit, 1), 1000); v_schema text; v_ids uuid[] := '{}';
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the audit seal sweep'))}
      for v_schema in select public.app_placement_schemas() loop ${sql.raw(SCHEMA_PATH('v_schema'))}
        v_ids := v_ids || array(select distinct p.organization_id from audit_pending p
          where p_after is null or p.organization_id > p_after
          order by p.organization_id limit v_limit);
      end loop;
      return query select distinct u.id from unnest(v_ids) u (id) order by u.id limit v_limit;
    end $$`.execute(db);

  await sql`create or replace function worker_api.app_priv_audit_chains_to_checkpoint(p_key_id text, p_after uuid,
      p_limit integer)
    returns table (organization_id uuid)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_limit integer := least(greatest(p_limit, 1), 1000); v_schema text; v_ids uuid[] := '{}';
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the checkpoint scan'))}
      for v_schema in select public.app_placement_schemas() loop ${sql.raw(SCHEMA_PATH('v_schema'))}
        v_ids := v_ids || array(select o.organization_id from (
            select h.organization_id from audit_chain_heads h
              where h.seq > coalesce((select max(c.seq) from audit_checkpoints c
                                       where c.organization_id = h.organization_id and c.key_id = p_key_id), 0)
            union
            select distinct p.organization_id from audit_pending p) o
          where p_after is null or o.organization_id > p_after
          order by o.organization_id limit v_limit);
      end loop;
      return query select distinct u.id from unnest(v_ids) u (id) order by u.id limit v_limit;
    end $$`.execute(db);

  // Per organization (its own search path), as 0037 left it otherwise.
  await sql`create or replace function worker_api.app_retention_purge_audit(p_now timestamptz, p_after uuid,
      p_include boolean, p_limit integer)
    returns table (organization_id uuid, deleted integer, more boolean)
    language plpgsql volatile security definer set search_path = pg_catalog, public as $$
    declare v_limit integer := least(greatest(p_limit, 1), 10000); r record; v_cutoff timestamptz;
      v_start bigint; v_cut bigint; v_n integer; v_total integer; v_more boolean; v_seen integer := 0;
      v_last uuid;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the audit retention purge'))}
      if p_now is null or p_now > now() + interval '5 minutes' then
        raise exception 'the retention instant must not be in the future' using errcode = 'invalid_parameter_value';
      end if;
      if p_after is null then
        -- A run's first call: a retention shorter than the one the last run saw starts a grace of 30 days
        -- during which the longer of the two (null: forever; the longest of all while one is running) holds.
        update public.organizations o set
            audit_retention_grace_days = case
              when o.audit_retention_grace_until > p_now and o.audit_retention_grace_days is null then null
              when o.audit_retention_grace_until > p_now
                then greatest(o.audit_retention_grace_days, o.audit_retention_days_seen)
              else o.audit_retention_days_seen end,
            audit_retention_grace_until = p_now + interval '30 days'
          from public.plans p
         where p.key = o.plan and o.audit_retention_seen and p.audit_retention_days is not null
           and (o.audit_retention_days_seen is null or p.audit_retention_days < o.audit_retention_days_seen);
        update public.organizations o set audit_retention_seen = true,
            audit_retention_days_seen = p.audit_retention_days
          from public.plans p
         where p.key = o.plan and (not o.audit_retention_seen
           or o.audit_retention_days_seen is distinct from p.audit_retention_days);
      end if;
      for r in select o.id, case when o.audit_retention_grace_until is null
              or o.audit_retention_grace_until <= p_now then p.audit_retention_days
            when o.audit_retention_grace_days is null then null
            else greatest(p.audit_retention_days, o.audit_retention_grace_days) end as days
          from public.organizations o
          join public.plans p on p.key = o.plan
         where p.audit_retention_days is not null and o.suspension_reason is distinct from 'deletion'
           and (p_after is null or o.id > p_after or (p_include and o.id = p_after))
         order by o.id limit 500 loop
        v_seen := v_seen + 1;
        v_last := r.id;
        continue when r.days is null; ${sql.raw(ORG_PATH('r.id'))}
        v_cutoff := p_now - make_interval(days => r.days);
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
          -- The checkpoints of the entries now gone; the one at v_cut anchors what is left.
          delete from audit_checkpoints c where c.organization_id = r.id and c.seq < v_cut;
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
      if v_seen = 500 then
        return query select v_last, 0, false;
      end if;
    end $$`.execute(db);
}
