import { sql, type Kysely } from 'kysely';
import { OUTSIDE_TENANT_SCOPE } from '../sql-helpers.js';
import { SCHEMA_PATH } from './snippets.js';

/**
 * The retention purges of 0027 and 0031 follow schema placements: the placed tables they purge
 * (invitation_sends, idempotency_keys, organization_exports and their chunks, webhook deliveries and
 * events) are purged in every schema; directory and global tables stay in `public`. A call's limit is
 * shared by the schemas, so a call purging fewer rows than its limit still means there is nothing left.
 */
export async function retentionFunctions(db: Kysely<unknown>): Promise<void> {
  await sql`create or replace function worker_api.app_retention_purge(p_kind text, p_cutoff timestamptz,
      p_limit integer)
    returns integer
    language plpgsql volatile security definer set search_path = pg_catalog, public as $$
    declare v_limit integer := least(greatest(p_limit, 1), 10000); v_n integer := 0; v_m integer := 0;
      v_k integer; v_schema text;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the retention purge'))}
      if p_cutoff is null or p_cutoff > now() + interval '5 minutes' then
        raise exception 'the retention cutoff must not be in the future' using errcode = 'invalid_parameter_value';
      end if;
      -- No row locks (FOR UPDATE would need UPDATE, which the definer has only on the export tables): a
      -- row deleted by a concurrent run is simply not counted twice.
      if p_kind = 'sessions' then
        delete from public.sessions s where s.id in (select x.id from public.sessions x
          where coalesce(x.revoked_at, least(x.idle_expires_at, x.absolute_expires_at)) < p_cutoff
          limit v_limit);
      elsif p_kind = 'refresh_tokens' then
        -- Used and revoked tokens stay until they expire: a replay of one revokes its family.
        delete from public.refresh_tokens r where r.id in (select x.id from public.refresh_tokens x
          where x.expires_at < p_cutoff limit v_limit);
      elsif p_kind = 'email_tokens' then
        delete from public.email_tokens t where t.id in (select x.id from public.email_tokens x
          where coalesce(x.used_at, x.expires_at) < p_cutoff and x.expires_at < now()
          limit v_limit);
      elsif p_kind = 'invitations' then
        delete from public.invitations i using (select x.organization_id, x.id from public.invitations x
            where (x.status = 'accepted' and x.accepted_at < p_cutoff)
               or (x.status <> 'accepted' and x.expires_at < p_cutoff)
            limit v_limit) d
          where i.organization_id = d.organization_id and i.id = d.id;
        get diagnostics v_n = row_count;
        for v_schema in select public.app_placement_schemas() loop ${sql.raw(SCHEMA_PATH('v_schema'))}
          delete from invitation_sends s using (select x.organization_id, x.id
              from invitation_sends x where x.sent_at < p_cutoff limit v_limit - v_m) d
            where s.organization_id = d.organization_id and s.id = d.id;
          get diagnostics v_k = row_count;
          v_m := v_m + v_k;
          exit when v_m >= v_limit;
        end loop;
        return v_n + v_m;
      elsif p_kind = 'idempotency_keys' then
        for v_schema in select public.app_placement_schemas() loop ${sql.raw(SCHEMA_PATH('v_schema'))}
          delete from idempotency_keys k using (select x.organization_id, x.scope, x.key
              from idempotency_keys x where x.created_at < p_cutoff limit v_limit - v_n
             ) d
            where k.organization_id = d.organization_id and k.scope = d.scope and k.key = d.key;
          get diagnostics v_k = row_count;
          v_n := v_n + v_k;
          exit when v_n >= v_limit;
        end loop;
        return v_n;
      elsif p_kind = 'exports' then
        -- Archives past their expiry: the chunks go, the export row stays (status 'expired'). Counts exports.
        for v_schema in select public.app_placement_schemas() loop ${sql.raw(SCHEMA_PATH('v_schema'))}
          with gone as (update organization_exports e set status = 'expired'
              from (select x.organization_id, x.id from organization_exports x
                    where x.status = 'ready' and x.expires_at < p_cutoff limit v_limit - v_n
                    for update skip locked) d
              where e.organization_id = d.organization_id and e.id = d.id
              returning e.organization_id, e.id),
            chunks as (delete from organization_export_chunks c using gone
              where c.organization_id = gone.organization_id and c.export_id = gone.id returning 1)
            select count(*)::integer into v_k from gone;
          v_n := v_n + v_k;
          exit when v_n >= v_limit;
        end loop;
        with gone as (update public.account_exports e set status = 'expired'
            from (select x.id from public.account_exports x
                  where x.status = 'ready' and x.expires_at < p_cutoff limit v_limit
                  for update skip locked) d
            where e.id = d.id returning e.id),
          chunks as (delete from public.account_export_chunks c using gone
            where c.export_id = gone.id returning 1)
          select count(*)::integer into v_m from gone;
        return v_n + v_m;
      else
        raise exception 'unknown kind %', p_kind using errcode = 'invalid_parameter_value';
      end if;
      get diagnostics v_n = row_count;
      return v_n;
    end $$`.execute(db);

  await sql`create or replace function worker_api.app_retention_purge_webhooks(p_kind text, p_cutoff timestamptz,
      p_limit integer)
    returns integer
    language plpgsql volatile security definer set search_path = pg_catalog, public as $$
    declare v_limit integer := least(greatest(p_limit, 1), 10000); v_n integer := 0; v_k integer;
      v_schema text;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the webhook retention purge'))}
      if p_cutoff is null or p_cutoff > now() + interval '5 minutes' then
        raise exception 'the retention cutoff must not be in the future' using errcode = 'invalid_parameter_value';
      end if;
      if p_kind is null or p_kind not in ('deliveries', 'outbox') then
        raise exception 'unknown kind %', p_kind using errcode = 'invalid_parameter_value';
      end if;
      for v_schema in select public.app_placement_schemas() loop ${sql.raw(SCHEMA_PATH('v_schema'))}
        if p_kind = 'deliveries' then
          -- Rechecked on the row deleted: a redelivery that made one pending again keeps it.
          delete from webhook_deliveries d using (select x.organization_id, x.id
              from webhook_deliveries x
              where x.status <> 'pending' and x.updated_at < p_cutoff limit v_limit - v_n) g
            where d.organization_id = g.organization_id and d.id = g.id
              and d.status <> 'pending' and d.updated_at < p_cutoff;
        else
          delete from webhook_events e using (select x.organization_id, x.id from webhook_events x
              where x.dispatched_at < p_cutoff
                and not exists (select 1 from webhook_deliveries d
                                 where d.organization_id = x.organization_id and d.event_id = x.id)
              limit v_limit - v_n) g
            where e.organization_id = g.organization_id and e.id = g.id;
        end if;
        get diagnostics v_k = row_count;
        v_n := v_n + v_k;
        exit when v_n >= v_limit;
      end loop;
      return v_n;
    end $$`.execute(db);
}
