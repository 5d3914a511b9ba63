import { sql, type Kysely } from 'kysely';
import { OUTSIDE_TENANT_SCOPE } from '../sql-helpers.js';
import { TENANT_PATH } from './snippets.js';

/**
 * Invoice finalization (0019) numbers a draft of the caller's scope in the organization's own schema; the
 * numbering counter stays global (`public`). The organization purge (0026) empties the tables of the
 * organization's own schema and of `public`, never another organization's schema.
 */
export async function tenantScopeFunctions(db: Kysely<unknown>): Promise<void> {
  await sql`create or replace function app_invoice_finalize(p_org uuid, p_invoice uuid)
    returns table (number text, finalized_at timestamptz)
    language plpgsql volatile security definer set search_path = pg_catalog, public set lock_timeout = '5s' as $$
    declare v_subtotal bigint; v_total bigint; v_lines jsonb; v_line jsonb; v_i int := 0; v_amount numeric;
      v_quantity numeric; v_sum numeric := 0; v_next bigint; v_number text; v_at timestamptz;
    begin
      if p_org is null or p_org is distinct from public.app_current_tenant() then
        raise exception 'invoice finalization outside the tenant scope of its organization'
          using errcode = 'insufficient_privilege';
      end if; ${sql.raw(TENANT_PATH)}
      select i.subtotal, i.total, i.lines into v_subtotal, v_total, v_lines from invoices i
        where i.organization_id = p_org and i.id = p_invoice and i.status = 'draft' for update;
      if not found then
        raise exception 'no draft invoice % in this organization', p_invoice using errcode = 'no_data_found';
      end if;
      if jsonb_array_length(v_lines) > 1000 then
        raise exception 'invoice % has % lines, more than 1000', p_invoice,
          jsonb_array_length(v_lines) using errcode = 'check_violation';
      end if;
      for v_line in select l from jsonb_array_elements(v_lines) l loop
        v_i := v_i + 1;
        if jsonb_typeof(v_line) is distinct from 'object'
            or not (v_line ?& array['description', 'planKey', 'component', 'quantity', 'amount',
                                    'periodStart', 'periodEnd'])
            or jsonb_typeof(v_line -> 'description') is distinct from 'string'
            or jsonb_typeof(v_line -> 'planKey') is distinct from 'string'
            or jsonb_typeof(v_line -> 'component') is distinct from 'string'
            or jsonb_typeof(v_line -> 'periodStart') is distinct from 'string'
            or jsonb_typeof(v_line -> 'periodEnd') is distinct from 'string'
            or jsonb_typeof(v_line -> 'quantity') is distinct from 'number'
            or jsonb_typeof(v_line -> 'amount') is distinct from 'number' then
          raise exception 'invoice % line % is malformed: %', p_invoice, v_i, left(v_line::text, 200)
            using errcode = 'check_violation';
        end if;
        v_amount := (v_line ->> 'amount')::numeric;
        v_quantity := (v_line ->> 'quantity')::numeric;
        if v_amount <> trunc(v_amount) or v_amount < 0 or v_amount > 9007199254740991
            or v_quantity <> trunc(v_quantity) or v_quantity < 0 or v_quantity > 9007199254740991 then
          raise exception 'invoice % line % has an amount or quantity that is not an integer in 0 .. 2^53 - 1',
            p_invoice, v_i using errcode = 'check_violation';
        end if;
        v_sum := v_sum + v_amount;
      end loop;
      if v_sum <> v_subtotal or v_total <> v_subtotal then
        raise exception 'invoice % lines sum to %, subtotal %, total %', p_invoice, v_sum, v_subtotal, v_total
          using errcode = 'check_violation';
      end if;
      begin
        update public.invoice_number_counter c set last_value = c.last_value + 1
          where c.singleton returning c.last_value into v_next;
      exception when lock_not_available then
        raise exception 'invoice numbering busy: another finalization held the counter for 5s; retry'
          using errcode = 'lock_not_available';
      end;
      -- After the counter's row lock: a later number never has an earlier finalization time.
      v_at := clock_timestamp();
      v_number := 'INV-' || lpad(v_next::text, greatest(6, length(v_next::text)), '0');
      update invoices i set status = 'finalized', number = v_number, finalized_at = v_at
        where i.organization_id = p_org and i.id = p_invoice;
      return query select v_number, v_at;
    end $$`.execute(db);

  // The tables looked at: every table with organization_id outside the schemas of schema placements, and
  // those of the organization's own schema (by its derived name, which holds whether or not its placement
  // row is still there: tenant_placements is itself purged). Another organization's schema is never
  // scanned (nor paid for). A table of the organization's schema counts in the ledger under its bare name,
  // as a pooled organization's does, so the deletion record reads the same whatever the placement.
  // The emptied schema itself stays: dropping it is DDL on a schema the owner role owns, which no worker
  // function may do; once the placement row is gone, no scan visits it (app_placement_schemas()).
  await sql`create or replace function worker_api.app_priv_deletion_purge(p_org uuid, p_limit integer)
    returns table (table_name text, deleted bigint)
    language plpgsql volatile security definer set search_path = pg_catalog, public as $$
    declare v_phase text; r record; v_with oid[] := '{}'; v_target oid; v_has boolean; v_n bigint;
      v_schema text := public.app_tenant_schema_name(p_org); v_key text;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the organization purge'))}
      select d.phase into v_phase from public.organization_deletions d where d.id = p_org for update;
      if v_phase is distinct from 'purging' then
        raise exception 'organization % is not being purged (phase %)', p_org, v_phase
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      perform set_config('app.purging_organization', p_org::text, true);
      for r in select c.oid from pg_class c
          join pg_namespace n on n.oid = c.relnamespace
          join pg_attribute a on a.attrelid = c.oid and a.attname = 'organization_id' and a.attnum > 0
            and not a.attisdropped
         where c.relkind in ('r', 'p') and not c.relispartition
           and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
           and (n.nspname !~ '^t_[0-9a-f]{32}$' or n.nspname = v_schema)
         order by n.nspname, c.relname loop
        execute format('select exists (select 1 from %s where organization_id = $1)', r.oid::regclass)
          into v_has using p_org;
        if v_has then v_with := v_with || r.oid; end if;
      end loop;
      if cardinality(v_with) = 0 then
        delete from public.organizations o where o.id = p_org;
        get diagnostics v_n = row_count;
        update public.organization_deletions d set phase = 'shredding',
            row_counts = d.row_counts || jsonb_build_object('organizations', v_n)
          where d.id = p_org;
        return query select 'organizations'::text, v_n;
        return;
      end if;
      select t into v_target from unnest(v_with) t
        where not exists (select 1 from pg_constraint k where k.contype = 'f' and k.confrelid = t
                           and k.conrelid <> t and k.conrelid = any (v_with))
        limit 1;
      if v_target is null then
        raise exception 'the tenant tables holding rows of % reference each other in a cycle', p_org
          using errcode = 'foreign_key_violation';
      end if;
      execute format('delete from %1$s where organization_id = $1 and (tableoid, ctid) in
          (select tableoid, ctid from %1$s where organization_id = $1 limit $2)', v_target::regclass)
        using p_org, least(greatest(p_limit, 1), 100000);
      get diagnostics v_n = row_count;
      select case when n.nspname = v_schema then c.relname::text else v_target::regclass::text end into v_key
        from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = v_target;
      update public.organization_deletions d
        set row_counts = jsonb_set(d.row_counts, array[v_key],
              to_jsonb(coalesce((d.row_counts ->> v_key)::bigint, 0) + v_n))
        where d.id = p_org;
      return query select v_key, v_n;
    end $$`.execute(db);
}
