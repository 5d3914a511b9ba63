import { sql, type Kysely } from 'kysely';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/**
 * Migration 0050's `app_priv_placement_move_switch` (not a migration itself: src/migrations/index.ts lists
 * them), restated in full from 0040's: the same arguments, checks, placement record and audit event, but
 * instead of counting and checksumming every row of source and target under the lock, it requires that
 * every table of the organization's schema was caught up and compared under the lock in THIS transaction
 * (`app_priv_placement_move_catch_up(move, tables, true)`, which records its transaction with each table's
 * counts). `create or replace` keeps its owner (the definer role) and grants (the owner role only).
 */
export async function switchFunction(db: Kysely<unknown>): Promise<void> {
  await sql`create or replace function app_priv_placement_move_switch(p_move uuid, p_schema_version text,
      p_audit jsonb) returns jsonb
    language plpgsql volatile security definer set search_path = pg_catalog, public as $$
    declare m record; r record; v_counts jsonb; v_xact text := pg_current_xact_id()::text;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('a placement move'))}
      select * into m from public.app_placement_move_sides(p_move);
      if m.org is null then
        raise exception 'no placement move %', p_move using errcode = 'no_data_found';
      end if;
      if m.step is distinct from 'switching' then
        raise exception 'placement move % is %, not switching', p_move, m.step
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      if p_audit ->> 'action' is distinct from 'organization.placement_moved'
          or p_audit ->> 'target_id' is distinct from m.org::text then
        raise exception 'the switch records organization.placement_moved of its organization'
          using errcode = 'invalid_parameter_value';
      end if;
      perform pg_advisory_xact_lock(public.app_placement_move_key(m.org));
      select x.counts into v_counts from public.placement_moves x where x.id = p_move;
      for r in select c.relname::text as t from pg_class c
          where c.relnamespace = public.app_tenant_schema_name(m.org)::regnamespace and c.relkind in ('r', 'p')
            and not c.relispartition order by 1 loop
        if v_counts -> r.t ->> 'frozen' is distinct from v_xact then
          raise exception 'placement move %: % was not caught up under the lock in this transaction', p_move, r.t
            using errcode = 'object_not_in_prerequisite_state';
        end if;
      end loop;
      update public.tenant_placements p set kind = m.to_kind, database_key = null, state = 'active',
          schema_version = case when m.to_kind = 'schema' then p_schema_version end, updated_at = now()
        where p.organization_id = m.org;
      execute format('insert into %I.audit_pending (organization_id, id, occurred_at, prefix, suffix, actor_type,
          actor_id, action, target_type, target_id, ip, user_agent, request_id, changes, metadata)
        values ($1, ($2 ->> ''id'')::uuid, ($2 ->> ''occurred_at'')::timestamptz, $2 ->> ''prefix'',
          $2 ->> ''suffix'', $2 ->> ''actor_type'', $2 ->> ''actor_id'', $2 ->> ''action'', $2 ->> ''target_type'',
          $2 ->> ''target_id'', null, null, $2 ->> ''request_id'', nullif($2 -> ''changes'', ''null''),
          nullif($2 -> ''metadata'', ''null''))', m.dst) using m.org, p_audit;
      -- The freeze: from the transaction's start (its first statement queued for the lock; the
      -- organization's new transactions queued behind it) to now, COMMIT aside.
      update public.placement_moves x set step = 'cleaning', switched_at = now(), error = null, updated_at = now(),
          freeze_ms = ceil(extract(epoch from clock_timestamp() - now()) * 1000)::integer
        where x.id = p_move;
      return v_counts;
    end $$`.execute(db);
}
