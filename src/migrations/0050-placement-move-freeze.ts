import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';
import { switchFunction } from './0050-placement-move-switch.js';
import { moveLocks } from './0050-placement-move-locks.js';

/**
 * Issue 13, online moves: a write freeze for the final delta only (docs/isolation-models.md, "Online
 * moves"). Migration 0040's switch re-synchronized and re-checksummed every row of the organization with
 * its move lock held, so the freeze grew with the organization (2.6 s for 100,000 rows). Now:
 *
 * - Before the freeze, `app_priv_placement_move_catch_up(move, tables, false, full)` runs rounds, each ONE
 *   repeatable-read transaction (one snapshot S): the rows changed since the last round (their `xmin` not
 *   older than the xmin of the last round's snapshot; the first round: than the copy's horizon) are upserted and their checksums compared with the target's rows of the same keys; the row
 *   counts compared, and the target's rows gone from the source deleted when they differ. A FULL round
 *   (the first after the copy, and the first of every run of the step, so a re-run heals) also upserts the
 *   source rows missing from the target (a child the copy skipped as its parent was not there yet) and
 *   compares every row's checksum (the copy's verification). A difference fails the round, which changes
 *   nothing. The round records S's xmin as the next horizon: after it, the target holds exactly the
 *   source as S saw it.
 * - The freeze (`catch_up(move, tables, true, false)` then `switch`, one read-committed transaction, the
 *   move lock held exclusively) does the same for what changed since the last round: a row the source
 *   holds now that S did not see, or saw otherwise, was written by a transaction S did not see, whose xid
 *   is therefore not older than S's xmin (a transaction older than it had ended before S).
 *   Deletions: the target holds every source row (each one is either unchanged since S, so in the target,
 *   or just upserted), so the target has more rows exactly when some were deleted; then, only then, they
 *   are looked for by key. What the lock holds is one scan of the organization's rows' `xmin` in the
 *   source and a row count of the target (no row contents), plus the final delta.
 * - `app_priv_placement_move_switch` (re-created) refuses unless every table of the organization's schema
 *   was caught up under the lock in its own transaction, and no longer re-checksums every row.
 * - `app_priv_placement_move_sync` (0040's catch-up, superseded) is dropped.
 * - The definer's per-organization paths take the move lock too (0050-placement-move-locks.ts): a
 *   worker's write for a moving organization waits out the freeze like a request's.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const definer = sql.id(ctx.roles.definer);
  const owner = sql.id(ctx.roles.owner);
  await sql`drop function if exists app_priv_placement_move_sync(uuid, text, text[], text)`.execute(db);
  await tableCatchUp(db);
  await catchUp(db);
  await switchFunction(db);
  await moveLocks(db);
  for (const fn of [
    'app_placement_move_catch_up_table(uuid, text, text[], text, text)',
    'app_priv_placement_move_catch_up(uuid, jsonb, boolean, boolean)',
  ]) {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
  }
  await sql`grant execute on function app_priv_placement_move_catch_up(uuid, jsonb, boolean, boolean) to ${owner}`.execute(
    db,
  );
}

const DEFINER = 'language plpgsql volatile security definer set search_path = pg_catalog, public';
/** A row count and checksum of the rows of alias `x`, as a PL/pgSQL string literal (format's argument). */
const CHECKSUM = sql.raw(
  `'count(*), coalesce(sum(hashtextextended((to_jsonb(x) - ''pending_id'')::text, 0)::numeric), 0)::text'`,
);

/**
 * One phase of one table's catch-up (a helper: executable by no role, called by the definer functions);
 * `p_mode`: `first` (a full round: the first after the copy, or of a resumed run), `round` (a later
 * one), `frozen` (under the lock).
 * `upsert`: the source rows changed since the last round (in a full round, also those missing from the
 * target: a child the copy skipped since its parent was not there yet) upserted; their checksum compared
 * with the target's rows of the same keys. `delete`: the row counts compared; the target then holds every
 * source row, so it has more exactly when some were deleted from the source: only then are they looked for
 * by key and deleted, and the counts compared again. `verify` (a full round only): every row's count
 * and checksum compared, which the copy is verified by. `audit_pending` (its ids are reassigned by the
 * admission trigger) is copied whole at `upsert`. Each comparison is recorded in the move's `counts`
 * with the transaction that made it (`verified` before the freeze, `frozen` under it).
 */
async function tableCatchUp(db: Kysely<unknown>): Promise<void> {
  await sql`create function app_placement_move_catch_up_table(p_move uuid, p_table text, p_keys text[],
      p_phase text, p_mode text) returns integer ${sql.raw(DEFINER)} as $$
    declare m record; t record; v_n integer := 0; v_x xid; v_cond text; v_cols text;
      v_sn bigint; v_ss text; v_dn bigint; v_ds text; v_xact text := pg_current_xact_id()::text;
      v_dkeys text; v_src_any boolean; v_dst_any boolean; v_total bigint; v_rows jsonb;
    begin
      select * into m from public.app_placement_move_sides(p_move);
      -- Most placed tables hold none of an organization's rows: two index probes settle those (the
      -- freeze's fixed cost is mostly the planning of the statements below, table after table).
      if to_regclass(format('%I.%I', public.app_tenant_schema_name(m.org), p_table)) is null then
        raise exception 'not a placed table of the organization: %', p_table using errcode = 'invalid_parameter_value';
      end if;
      if p_phase in ('upsert', 'delete') then
        execute format('select exists (select 1 from %I.%I s where s.organization_id = $1),
            exists (select 1 from %I.%I d where d.organization_id = $1)', m.src, p_table, m.dst, p_table)
          into v_src_any, v_dst_any using m.org;
        -- Nothing to upsert from an empty source, except audit_pending: copied whole, so emptied in the
        -- target too when the sealer emptied the source since the last round.
        if not v_src_any and (not v_dst_any or (p_phase = 'upsert' and p_table <> 'audit_pending')) then
          if p_phase = 'delete' then
            update public.placement_moves x set counts = coalesce(x.counts, '{}') || jsonb_build_object(p_table,
                coalesce(x.counts -> p_table, '{}') || jsonb_build_object('rows', 0,
                  case when p_mode = 'frozen' then 'frozen' else 'verified' end, v_xact))
              where x.id = p_move;
          end if;
          return 0;
        end if;
      end if;
      select * into t from public.app_placement_move_table(m.org, m.dst, p_table, p_keys);
      v_x := ((m.copy_xmin::text::bigint % 4294967296)::text)::xid;
      v_dkeys := (select string_agg('d.' || quote_ident(n), ', ') from unnest(p_keys) n);
      perform set_config('app.placement_move', m.org::text || '/' || m.dst, true);
      if p_phase = 'upsert' and p_table = 'audit_pending' then
        execute format('delete from %I.audit_pending where organization_id = $1', m.dst) using m.org;
        v_cols := (select string_agg(quote_ident(n), ', ') from unnest(t.names) n where n <> 'pending_id');
        execute format('insert into %I.audit_pending (%s) select %s from %I.audit_pending s
            where s.organization_id = $1 order by s.pending_id', m.dst, v_cols, v_cols, m.src) using m.org;
        v_n := 0; -- copied whole each time: no measure of what changed
      elsif p_phase = 'upsert' then
        -- Changed since the last round: written by a transaction whose xid is not older than the xmin of
        -- that round's snapshot (every older one had ended before it). Not "not visible in that snapshot"
        -- (pg_visible_in_snapshot): a snapshot lists top-level transactions only, so a row written in a
        -- subtransaction (a savepoint, a PL/pgSQL exception block) of a transaction running at the round,
        -- committed since, would pass for one the round saw, and an update of it would be missed.
        v_cond := 'age(s.xmin) <= age($2)';
        v_cond := '(' || v_cond || ')';
        if p_mode = 'first' then
          v_cond := v_cond || format(' or not exists (select 1 from %I.%I d where d.organization_id = $1 and (%s) = (%s))',
            m.dst, p_table, v_dkeys, t.skeys);
        end if;
        -- ONE scan of the organization's rows: their count, and the changed ones (as jsonb: a second
        -- statement reads them, and a CTE over every row would copy them all).
        execute format('select count(*), count(*) filter (where %s),
            coalesce(sum(hashtextextended((to_jsonb(s) - ''pending_id'')::text, 0)::numeric) filter (where %s), 0)::text,
            coalesce(jsonb_agg(to_jsonb(s)) filter (where %s), ''[]'')
          from %I.%I s where s.organization_id = $1', v_cond, v_cond, v_cond, m.src, p_table)
          into v_total, v_sn, v_ss, v_rows using m.org, v_x;
        v_n := v_sn;
        if v_n > 0 then
          execute format('insert into %I.%I as d (%s) select %s from jsonb_populate_recordset(null::%I.%I, $2) b %s',
            m.dst, p_table, t.cols, (select string_agg('b.' || quote_ident(n), ', ') from unnest(t.names) n),
            m.dst, p_table, t.tail) using m.org, v_rows;
          execute format('select %s from %I.%I x where x.organization_id = $1 and (%s) in (
              select %s from jsonb_populate_recordset(null::%I.%I, $2) b)',
            ${CHECKSUM}, m.dst, p_table, (select string_agg('x.' || quote_ident(n), ', ') from unnest(p_keys) n),
            t.bkeys, m.dst, p_table) into v_dn, v_ds using m.org, v_rows;
          if v_sn <> v_dn or v_ss <> v_ds then
            raise exception 'placement move %: % differs after the catch-up (% rows changed in %, % found in %)',
              p_move, p_table, v_sn, m.src, v_dn, m.dst using errcode = 'data_exception';
          end if;
        end if;
        update public.placement_moves x set counts = coalesce(x.counts, '{}') || jsonb_build_object(p_table,
            coalesce(x.counts -> p_table, '{}') || jsonb_build_object('delta', v_n, 'source_rows', v_total,
              'counted', v_xact))
          where x.id = p_move;
      elsif p_phase = 'delete' then
        -- The source's count from this transaction's upsert phase (the same snapshot before the freeze;
        -- under it, the lock holds the organization's writers off), else counted now.
        select (x.counts -> p_table ->> 'source_rows')::bigint into v_sn from public.placement_moves x
          where x.id = p_move and x.counts -> p_table ->> 'counted' = v_xact;
        if v_sn is null then
          execute format('select count(*) from %I.%I s where s.organization_id = $1', m.src, p_table)
            into v_sn using m.org;
        end if;
        execute format('select count(*) from %I.%I s where s.organization_id = $1', m.dst, p_table)
          into v_dn using m.org;
        if p_table <> 'audit_pending' and v_dn <> v_sn then
          execute format('delete from %I.%I d where d.organization_id = $1 and not exists (
              select 1 from %I.%I s where s.organization_id = $1 and (%s) = (%s))', m.dst, p_table, m.src, p_table,
            t.skeys, v_dkeys) using m.org;
          get diagnostics v_n = row_count;
        end if;
        if v_sn <> v_dn - v_n then
          raise exception 'placement move %: % differs after the catch-up (% rows in %, % in %)',
            p_move, p_table, v_sn, m.src, v_dn - v_n, m.dst using errcode = 'data_exception';
        end if;
        update public.placement_moves x set counts = coalesce(x.counts, '{}') || jsonb_build_object(p_table,
            (coalesce(x.counts -> p_table, '{}') - 'source_rows' - 'counted') || jsonb_build_object('rows', v_sn,
              case when p_mode = 'frozen' then 'frozen' else 'verified' end, v_xact))
          where x.id = p_move;
      else
        execute format('select %s from %I.%I x where x.organization_id = $1', ${CHECKSUM},
          m.src, p_table) into v_sn, v_ss using m.org;
        execute format('select %s from %I.%I x where x.organization_id = $1', ${CHECKSUM},
          m.dst, p_table) into v_dn, v_ds using m.org;
        if v_sn <> v_dn or v_ss <> v_ds then
          raise exception 'placement move %: % differs after the catch-up (% rows in %, % in %)',
            p_move, p_table, v_sn, m.src, v_dn, m.dst using errcode = 'data_exception';
        end if;
        update public.placement_moves x set counts = coalesce(x.counts, '{}') || jsonb_build_object(p_table,
            coalesce(x.counts -> p_table, '{}') || jsonb_build_object('rows', v_sn, 'checksum', v_ss))
          where x.id = p_move;
      end if;
      perform set_config('app.placement_move', '', true);
      return v_n;
    end $$`.execute(db);
}

/**
 * A catch-up of every placed table (`p_tables`: `[{name, keys}]`, parents before children): upserts in
 * that order, deletions in the reverse, then (a full round, `p_full` or the first) every row's checksum.
 * Before the freeze (`p_frozen` false): ONE repeatable-read transaction, and it ends by recording its
 * snapshot's xmin as the next horizon, once every table of the organization's schema is compared in it.
 * Under the freeze (`p_frozen` true): read committed (every statement sees what committed before the
 * lock), the move lock taken first. Answers `{upserted, deleted, verified, ms}` (`verified`: every row's
 * checksum was compared).
 */
async function catchUp(db: Kysely<unknown>): Promise<void> {
  await sql`create function app_priv_placement_move_catch_up(p_move uuid, p_tables jsonb, p_frozen boolean,
      p_full boolean)
    returns jsonb ${sql.raw(DEFINER)} as $$
    declare m record; r record; v_up bigint := 0; v_del bigint := 0; v_counts jsonb; v_isolation text;
      v_mode text; v_xact text := pg_current_xact_id()::text; v_t0 timestamptz := clock_timestamp();
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('a placement move'))}
      select * into m from public.app_placement_move_sides(p_move);
      if m.org is null then
        raise exception 'no placement move %', p_move using errcode = 'no_data_found';
      end if;
      if m.step is distinct from 'switching' or p_frozen is null or jsonb_typeof(p_tables) is distinct from 'array' then
        raise exception 'placement move % is %, not switching', p_move, m.step
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      v_isolation := case when p_frozen then 'read committed' else 'repeatable read' end;
      if current_setting('transaction_isolation') <> v_isolation then
        raise exception 'a placement move''s catch-up runs % (before the freeze: one snapshot; under it: what committed before the lock)',
          v_isolation using errcode = 'invalid_transaction_state';
      end if;
      if p_frozen then
        perform pg_advisory_xact_lock(public.app_placement_move_key(m.org));
        v_mode := 'frozen';
      else
        select case when p_full or coalesce((x.progress #>> '{catch_up,rounds}')::int, 0) = 0 then 'first'
            else 'round' end
          into v_mode from public.placement_moves x where x.id = p_move;
      end if;
      for r in select e ->> 'name' as name, array(select jsonb_array_elements_text(e -> 'keys')) as keys
          from jsonb_array_elements(p_tables) with ordinality x(e, i) order by i loop
        v_up := v_up + public.app_placement_move_catch_up_table(p_move, r.name, r.keys, 'upsert', v_mode);
      end loop;
      for r in select e ->> 'name' as name, array(select jsonb_array_elements_text(e -> 'keys')) as keys
          from jsonb_array_elements(p_tables) with ordinality x(e, i) order by i desc loop
        v_del := v_del + public.app_placement_move_catch_up_table(p_move, r.name, r.keys, 'delete', v_mode);
      end loop;
      if v_mode = 'first' then
        for r in select e ->> 'name' as name, array(select jsonb_array_elements_text(e -> 'keys')) as keys
            from jsonb_array_elements(p_tables) with ordinality x(e, i) order by i loop
          perform public.app_placement_move_catch_up_table(p_move, r.name, r.keys, 'verify', v_mode);
        end loop;
      end if;
      if not p_frozen then
        select x.counts into v_counts from public.placement_moves x where x.id = p_move;
        for r in select c.relname::text as t from pg_class c
            where c.relnamespace = public.app_tenant_schema_name(m.org)::regnamespace and c.relkind in ('r', 'p')
              and not c.relispartition loop
          if v_counts -> r.t ->> 'verified' is distinct from v_xact then
            raise exception 'placement move %: % was not verified by the catch-up', p_move, r.t
              using errcode = 'object_not_in_prerequisite_state';
          end if;
        end loop;
        -- The new horizon: this transaction's snapshot (repeatable read: the one every statement read by).
        update public.placement_moves x set copy_xmin = pg_snapshot_xmin(pg_current_snapshot()), updated_at = now(),
            progress = jsonb_set(x.progress, '{catch_up}', jsonb_build_object(
              'rounds', coalesce((x.progress #>> '{catch_up,rounds}')::int, 0) + 1,
              'upserted', v_up, 'deleted', v_del))
          where x.id = p_move;
      end if;
      return jsonb_build_object('upserted', v_up, 'deleted', v_del, 'verified', v_mode = 'first',
        'ms', round(extract(epoch from clock_timestamp() - v_t0) * 1000, 1));
    end $$`.execute(db);
}
