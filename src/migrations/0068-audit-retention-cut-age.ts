import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';
import { ORG_PATH } from './0039-placement-functions/snippets.js';

/**
 * Verification accepts a chain cut only where a retention purge could have cut it.
 *
 * A chain starting after a signed checkpoint was accepted as purged by retention whatever the checkpoint's
 * age, so the database owner could delete minutes-old history up to a fresh checkpoint (signed hourly, and
 * on demand by any `audit:read` holder) and `verify` still answered valid. Now:
 * - the purge cuts only at a checkpoint signed before its cutoff (its instant minus the retention it
 *   applies, in days of 24 hours), beside the events of the segment being older than that: a checkpoint's
 *   `signed_at` is signed, so it cannot be moved back without breaking its signature;
 * - each cut records the retention it applied in `organizations.audit_retention_cut_days` (null: no cut
 *   since this migration), the bound verification checks the anchor checkpoint's age against: signed
 *   more than that many days before the verification (less the purge's 5 minutes of clock allowance),
 *   or the chain is `cut_before_retention` (src/platform/audit/verify-chain.ts; docs/audit-log.md).
 *
 * The function is 0039's otherwise (same signature, contract and grants: `create or replace` keeps them).
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const definer = sql.id(ctx.roles.definer);
  await sql`alter table organizations add column audit_retention_cut_days integer`.execute(db);
  await sql`grant update (audit_retention_cut_days) on organizations to ${definer}`.execute(db);
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
          -- And only at a checkpoint signed before the cutoff: verification accepts a chain cut at a
          -- checkpoint only when it is older than the retention recorded below (verify-chain.ts). Days of
          -- 24 hours here, whatever the session's time zone: verification counts them so.
          exit when not exists (select 1 from audit_checkpoints c
            where c.organization_id = r.id and c.seq = v_cut
              and c.signed_at < p_now - make_interval(hours => r.days * 24));
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
