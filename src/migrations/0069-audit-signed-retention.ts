import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';
import { ORG_PATH } from './0039-placement-functions/snippets.js';

/**
 * The retention a chain cut is held to is signed.
 *
 * 0068 held a chain cut at a checkpoint to the retention recorded in `organizations.audit_retention_cut_days`
 * (or 1 day when none): an unsigned column the database owner rewrites (or that is null for any
 * organization never cut), so history older than a day could still be cut at an hourly checkpoint. Now:
 * - `public.app_audit_retention_in_force(…)`: the audit retention (days; null: kept forever) the purge
 *   applies to an organization at an instant, from its plan's retention and the grace of a lowered one
 *   (migration 0037), a lowering the next run starts a grace for included. The purge and checkpoint
 *   signing (src/modules/audit/audit.service.ts) both use it;
 * - `audit_checkpoints.statement_v` and `retention_days`: a checkpoint signs statement version 2, which
 *   states the retention in force when it was signed (version 1, the checkpoints signed before, states
 *   none). The version is in the signed statement, so a stated retention cannot be changed or removed
 *   without breaking the signature (placement schemas follow through the schema sync);
 * - the hourly checkpoint scan (`app_priv_audit_chains_to_checkpoint`) also lists the chains whose head
 *   has no checkpoint stating the retention now in force, so a changed retention is signed within the hour;
 * - the purge cuts at a checkpoint only when it was signed longer ago than both the retention it applies
 *   and the shortest retention the checkpoints from it on state (none of them stating one: 0068's rule);
 *   verification holds the cut to that signed retention (src/platform/audit/verify-chain.ts);
 * - the runtime role's UPDATE on `organizations` becomes UPDATE on each of its columns but the purge's
 *   `audit_retention_*` (the recorded cut, and the seen retention and grace the retention in force is
 *   computed from: only the purge, a definer function, writes them); a column added to `organizations`
 *   later grants the runtime role UPDATE on it where it needs it.
 *
 * The purge function is 0068's otherwise (same signature, contract and grants: `create or replace`).
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  await sql`alter table audit_checkpoints
    add column statement_v smallint not null default 1 check (statement_v in (1, 2)),
    add column retention_days integer check (retention_days > 0),
    add constraint audit_checkpoints_retention_stated check (statement_v = 2 or retention_days is null)`.execute(
    db,
  );
  await sql`create function public.app_audit_retention_in_force(p_plan_days integer, p_seen boolean,
      p_days_seen integer, p_grace_until timestamptz, p_grace_days integer, p_now timestamptz)
    returns integer language sql immutable set search_path = pg_catalog as $$
    select case
      when p_plan_days is null then null
      -- A lowering the purge has not seen yet: its next run starts a grace holding the longer retention.
      when p_seen and (p_days_seen is null or p_plan_days < p_days_seen) then case
        when p_grace_until > p_now and p_grace_days is null then null
        when p_grace_until > p_now then greatest(p_plan_days, p_grace_days, p_days_seen)
        else p_days_seen end
      when p_grace_until is null or p_grace_until <= p_now then p_plan_days
      when p_grace_days is null then null
      else greatest(p_plan_days, p_grace_days) end $$`.execute(db);
  // The runtime role keeps UPDATE on every column of organizations but the purge's own (audit_retention_*).
  await sql`revoke update on organizations from ${sql.id(ctx.roles.runtime)}`.execute(db);
  const columns = await sql<{ name: string }>`select column_name as name from information_schema.columns
    where table_schema = 'public' and table_name = 'organizations' and column_name not like 'audit\\_retention\\_%'
    order by ordinal_position`.execute(db);
  for (const c of columns.rows) {
    await sql`grant update (${sql.id(c.name)}) on organizations to ${sql.id(ctx.roles.runtime)}`.execute(db);
  }
  // The hourly checkpoint scan also lists a chain whose head has no checkpoint (by the key) stating the
  // retention now in force: a changed retention (a grace ending included) and a chain whose checkpoints
  // are all version 1 are signed within the hour, so the purge, which waits for a signed statement of a
  // shortened retention, applies it then. As 0066 left it otherwise; a mismatch fails the migration.
  const fn = 'worker_api.app_priv_audit_chains_to_checkpoint(text, uuid, integer)';
  const from = `              where h.seq > coalesce((select max(c.seq) from audit_checkpoints c
                                       where c.organization_id = h.organization_id and c.key_id = p_key_id), 0)`;
  const to = `              join public.organizations g on g.id = h.organization_id
              left join public.plans l on l.key = g.plan
              where not exists (select 1 from audit_checkpoints c
                where c.organization_id = h.organization_id and c.key_id = p_key_id and c.seq = h.seq
                  and c.statement_v = 2 and c.retention_days is not distinct from
                    public.app_audit_retention_in_force(l.audit_retention_days, g.audit_retention_seen,
                      g.audit_retention_days_seen, g.audit_retention_grace_until, g.audit_retention_grace_days,
                      now()))`;
  const def = (await sql<{ def: string }>`select pg_get_functiondef(${fn}::regprocedure) as def`.execute(db))
    .rows[0]?.def;
  if (!def || def.split(from).length !== 2)
    throw new Error(`0069: ${fn} is not the function this migration amends`);
  await sql.raw(def.replace(from, () => to)).execute(db);

  await sql`create or replace function worker_api.app_retention_purge_audit(p_now timestamptz, p_after uuid,
      p_include boolean, p_limit integer)
    returns table (organization_id uuid, deleted integer, more boolean)
    language plpgsql volatile security definer set search_path = pg_catalog, public as $$
    declare v_limit integer := least(greatest(p_limit, 1), 10000); r record; v_cutoff timestamptz;
      v_start bigint; v_cut bigint; v_n integer; v_total integer; v_more boolean; v_seen integer := 0;
      v_last uuid; v_stated integer; v_signed integer; v_bound integer;
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
      for r in select o.id, public.app_audit_retention_in_force(p.audit_retention_days, o.audit_retention_seen,
            o.audit_retention_days_seen, o.audit_retention_grace_until, o.audit_retention_grace_days, p_now) as days
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
          -- And only at a checkpoint signed before the cutoff, and before the shortest retention the signed
          -- checkpoints from it on state (null: forever), which is what verification holds the cut to
          -- (verify-chain.ts): a lowered retention is applied once a checkpoint signed since states it.
          -- Chains with no checkpoint stating one (signed before 0069): the retention recorded below. Days
          -- of 24 hours here, whatever the session's time zone: verification counts them so.
          select count(*) filter (where c.statement_v = 2),
                 min(c.retention_days) filter (where c.statement_v = 2)
            into v_stated, v_signed from audit_checkpoints c
            where c.organization_id = r.id and c.seq >= v_cut;
          exit when v_stated > 0 and v_signed is null;
          v_bound := greatest(r.days, coalesce(v_signed, r.days));
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
          -- The checkpoints of the entries now gone; the one at v_cut anchors what is left.
          delete from audit_checkpoints c where c.organization_id = r.id and c.seq < v_cut;
          -- The retention of this cut: verification's bound for the checkpoint it leaves as the anchor.
          update public.organizations o set audit_retention_cut_days = r.days where o.id = r.id;
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
