import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';
import { ORG_PATH } from './0039-placement-functions/snippets.js';

/**
 * Issue 10, the background sealing's fixed cost (docs/performance.md, "Audited write, sixth pass"): the
 * in-process sealer called `app_audit_seal` once per organization, one transaction each (a COMMIT's WAL
 * flush, the head lock, the pending table's index scan) for the 20–30 events an organization had committed
 * in its delay, so over 100 organizations a sealed event cost about twice what it did in one.
 *
 * - `app_audit_seal_org(org, max, wait)`: the body of `app_audit_seal` (0015, as 0039 placed it) for one
 *   organization whose tables it resolves itself (`app_placement_search_path(org)`, which takes a moving
 *   organization's move lock first, 0050). Same head lock, hashing, checks and result, but for the creation
 *   of a missing head (an organization's first seal): its creators take an advisory lock of the
 *   organization's head first, so a caller that must not wait (`wait` false) is never queued behind another
 *   one's uncommitted insert: it reports -1, as for a head another sealer holds. A helper of the definer's
 *   own functions: executable by no other role.
 * - `app_audit_seal`: its scope check (only inside the tenant scope of `p_org`), then that helper. Same
 *   signature, contract and grants (`create or replace`).
 * - `app_audit_seal_many(orgs, max, budget)`: seals up to `max` pending events of each of several
 *   organizations in the caller's ONE transaction, in organization order (two callers never wait on each
 *   other in opposite orders), taking each head with SKIP LOCKED: one another sealer holds is reported -1
 *   and left. Once it has sealed `budget` events, the organizations after are reported -3 and left (a
 *   reader waiting for one of the heads it holds waits for the whole call: the budget bounds that). Nulls
 *   and duplicates are ignored; an organization without pending events (an unknown one included) is
 *   reported 0; one whose tables are not on this database (a `database` placement), whose schema does
 *   not exist or that is moving (its move lock would be waited for while the call holds other heads) is
 *   reported -2 and left to the per-organization path (which routes or refuses it, in a transaction of its
 *   own). An organization whose move starts after the call read its
 *   placement may still make it wait for the switch's few milliseconds. At most
 *   1000 organizations a call. Refused inside a tenant scope (it is nobody's tenant question), it sets no
 *   tenant: the definer role bypasses row security and the audit tables' guards check the role, not the
 *   tenant. It returns counts only; sealing is what the runtime role may already do for any organization
 *   (it sets its own tenant scope), so it opens nothing the runtime role could not reach before. EXECUTE:
 *   the runtime role (the in-process sealer of every process, src/platform/audit/sealer.ts).
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);

  await sql`create function app_audit_seal_org(p_org uuid, p_max integer, p_wait boolean)
    returns integer
    language plpgsql volatile security definer set search_path = pg_catalog, public
      set plan_cache_mode = force_generic_plan as $$
    declare v_seq bigint; v_prev bytea; v_hash bytea; r record;
      v_ids bigint[] := '{}'; v_seqs bigint[] := '{}'; v_prevs bytea[] := '{}'; v_hashes bytea[] := '{}';
      v_moved integer;
    begin
      if p_org is null then
        raise exception 'audit seal of no organization' using errcode = 'invalid_parameter_value';
      end if; ${sql.raw(ORG_PATH('p_org'))}
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
        -- Its first seal creates the head. Every creator takes this lock first, so an insert never waits
        -- for another caller's uncommitted one; a caller that must not wait gives up (-1) instead.
        if p_wait then
          perform pg_advisory_xact_lock(hashtextextended('audit-chain-head:' || p_org::text, 0));
        elsif not pg_try_advisory_xact_lock(hashtextextended('audit-chain-head:' || p_org::text, 0)) then
          return -1;
        end if;
        insert into audit_chain_heads (organization_id, seq, hash)
          values (p_org, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
          on conflict (organization_id) do nothing;
        if p_wait then
          select h.seq, h.hash into v_seq, v_prev from audit_chain_heads h
            where h.organization_id = p_org for update;
        else
          select h.seq, h.hash into v_seq, v_prev from audit_chain_heads h
            where h.organization_id = p_org for update skip locked;
          if not found then
            return -1; -- created by another caller meanwhile, and held by a sealer
          end if;
        end if;
      end if;
      -- A new statement, so a new snapshot: it sees what the previous holder of the lock left. (Appending
      -- to an array variable is done in place, not copied: 50,000 appends take milliseconds.)
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
  await sql`alter function app_audit_seal_org(uuid, integer, boolean) owner to ${definer}`.execute(db);
  await sql`revoke all on function app_audit_seal_org(uuid, integer, boolean) from public`.execute(db);

  await sql`create or replace function app_audit_seal(p_org uuid, p_max integer, p_wait boolean)
    returns integer
    language plpgsql volatile security definer set search_path = pg_catalog, public as $$
    begin
      if p_org is null or p_org is distinct from public.app_current_tenant() then
        raise exception 'audit seal outside the tenant scope of its organization'
          using errcode = 'insufficient_privilege';
      end if;
      return public.app_audit_seal_org(p_org, p_max, p_wait);
    end $$`.execute(db);

  await sql`create function app_audit_seal_many(p_orgs uuid[], p_max integer, p_budget integer)
    returns table (org uuid, sealed integer)
    language plpgsql volatile security definer set search_path = pg_catalog, public as $$
    declare v_org uuid; v_kind text; v_state text; v_total integer := 0;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the audit seal of several organizations'))}
      if cardinality(p_orgs) > 1000 then
        raise exception 'the audit seal of several organizations takes at most 1000'
          using errcode = 'invalid_parameter_value';
      end if;
      for v_org in select distinct u.id from unnest(p_orgs) u (id) where u.id is not null order by u.id loop
        select p.kind, p.state into v_kind, v_state from public.tenant_placements p
          where p.organization_id = v_org;
        org := v_org;
        if v_total >= greatest(p_budget, 1) then
          sealed := -3; -- not reached: the call has sealed its budget (the heads it holds stay held till COMMIT)
        elsif v_kind = 'database' or v_state = 'moving' or (v_kind = 'schema' and not exists (
            select 1 from pg_catalog.pg_namespace n where n.nspname = public.app_tenant_schema_name(v_org))) then
          -- Not here (a tenant database), or moving: resolving a moving organization's tables waits for its
          -- move lock, which its switch holds, and the heads this call took before would wait with it.
          -- The per-organization path routes (or refuses) it, in a transaction of its own.
          sealed := -2;
        else
          sealed := public.app_audit_seal_org(v_org, p_max, false);
          v_total := v_total + greatest(sealed, 0);
        end if;
        return next;
      end loop;
    end $$`.execute(db);
  await sql`alter function app_audit_seal_many(uuid[], integer, integer) owner to ${definer}`.execute(db);
  await sql`revoke all on function app_audit_seal_many(uuid[], integer, integer) from public`.execute(db);
  await sql`grant execute on function app_audit_seal_many(uuid[], integer, integer) to ${runtime}`.execute(
    db,
  );
}
