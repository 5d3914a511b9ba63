import { sql, type Kysely } from 'kysely';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/**
 * Review of issue 12: the audit retention purge (migration 0031) cuts only at signed checkpoints, never
 * between two, so that verification can demand a signed checkpoint right below the first kept entry.
 *
 * Migration 0031's function stopped a batch at its row limit wherever that fell, inside a checkpoint
 * segment, and deleted the checkpoint below; until the next batch the chain started at an entry no
 * checkpoint named, and verification accepted that when a later checkpoint authenticated the entries up to
 * it. That acceptance let a chain, or an export, truncated at ANY entry verify as "valid from the signed
 * checkpoint at seq N" with no checkpoint at N. Now a call deletes whole segments (every event from the
 * first kept one up to the next checkpoint): a segment that does not fit in what is left of the limit
 * waits for the next call (`more`), except a call's first, which goes whole (one organization's events of
 * about an hour: checkpoints are hourly). verify-chain.ts accepts a start only at a checkpoint.
 *
 * Same signature, contract and grants as 0031's (`create or replace` keeps the owner and grants).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
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
      for r in select o.id, p.audit_retention_days as days from public.organizations o
          join public.plans p on p.key = o.plan
         where p.audit_retention_days is not null and o.suspension_reason is distinct from 'deletion'
           and (p_after is null or o.id > p_after or (p_include and o.id = p_after))
         order by o.id limit 500 loop
        v_seen := v_seen + 1;
        v_last := r.id;
        v_cutoff := p_now - make_interval(days => r.days);
        v_total := 0;
        v_more := false;
        select min(e.seq) into v_start from public.audit_events e where e.organization_id = r.id;
        while v_start is not null loop
          -- The next checkpoint at or after the first kept entry (the one before it anchors the chain).
          select min(c.seq) into v_cut from public.audit_checkpoints c
            where c.organization_id = r.id and c.seq >= v_start;
          exit when v_cut is null;
          exit when exists (select 1 from public.audit_events e
            where e.organization_id = r.id and e.seq between v_start and v_cut
              and e.occurred_at + interval '0' >= v_cutoff);
          -- A whole segment or none (the chain is gapless: v_cut - v_start + 1 events).
          if v_total > 0 and v_cut - v_start + 1 > v_limit - v_total then
            v_more := true;
            exit;
          end if;
          perform set_config('app.audit_retention_cut', r.id::text || '/' || v_cut::text, true);
          delete from public.audit_events e
            where e.organization_id = r.id and e.seq between v_start and v_cut;
          get diagnostics v_n = row_count;
          exit when v_n = 0;
          -- The checkpoints of the entries now gone; the one at v_cut anchors what is left.
          delete from public.audit_checkpoints c where c.organization_id = r.id and c.seq < v_cut;
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
