import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';
import { TENANT_PATH } from './0039-placement-functions/snippets.js';

/**
 * Issue 13, data residency: `organizations.region`, the region (REGIONS) an organization was created in.
 *
 * Issue 13, the directory split of `database` placements (docs/isolation-models.md, "Database
 * placements: the directory stays in the control database"): a tenant transaction of an organization
 * placed in a tenant database may write its placed tables there and directory or global tables in the
 * control database. Both commit or neither does: the tenant database's part is PREPAREd (two-phase
 * commit), then the control database's transaction records the decision to commit it here and commits,
 * then the prepared part is committed. The control database's COMMIT is the decision; a prepared part
 * left behind by a crash is resolved from this table (src/platform/tenancy/prepared-commits.ts).
 *
 * - `tenant_commit_decisions`: one row per decided global transaction id (gid), its tenant database's
 *   key, the outcome (`commit`, or `abort` when the resolver found the part undecided and ruled it out
 *   first) and when. No role but the definer's reaches it; the runtime role has only the functions.
 * - `app_tenant_commit_decide(gid, key)`: inside the scope's control transaction, records `commit`. A
 *   gid already ruled out (`abort`) fails it (unique violation), so that transaction rolls back too.
 * - `app_tenant_commit_outcome(gids, key)`: for the resolver (outside any tenant scope): records `abort`
 *   for each gid not decided yet (so a late `decide` fails) and returns every gid's outcome.
 * - `app_tenant_commit_pending(key, age)`: the gids of a tenant database decided more than `age` seconds
 *   ago, and `app_tenant_commit_forget(gids, key)`: the resolver forgets those whose prepared parts are
 *   gone from the tenant database (resolved for good: a gid is never used twice).
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);
  // Data residency: the region an organization was created in (REGIONS; null: the control database).
  // Set at creation only (the runtime role's column grants on organizations stay as they were for UPDATE).
  await sql`alter table organizations add column region text
    check (region ~ '^[a-z][a-z0-9_-]{0,62}$')`.execute(db);
  await sql`create table tenant_commit_decisions (
    gid text primary key check (gid ~ '^sr_tc_[0-9a-f]{32}_[0-9a-f]{32}$'),
    database_key text not null check (length(database_key) between 1 and 63),
    outcome text not null check (outcome in ('commit', 'abort')),
    decided_at timestamptz not null default now()
  )`.execute(db);
  await sql`create index tenant_commit_decisions_key on tenant_commit_decisions (database_key, decided_at)`.execute(
    db,
  );
  await sql`revoke all on tenant_commit_decisions from public`.execute(db);
  await sql`grant select, insert, delete on tenant_commit_decisions to ${definer}`.execute(db);

  await sql
    .raw(
      `create function app_tenant_commit_decide(p_gid text, p_key text) returns void
        language plpgsql security definer set search_path = pg_catalog, public as $$
      begin
        -- Only inside the tenant scope of the organization the gid names: a scope cannot decide (and so
        -- preempt) another organization's two-phase commit.
        if public.app_current_tenant() is null
            or p_gid is distinct from ('sr_tc_' || replace(public.app_current_tenant()::text, '-', '') || '_' || substr(p_gid, 40))
            or p_gid !~ '^sr_tc_[0-9a-f]{32}_[0-9a-f]{32}$' then
          raise exception 'a two-phase commit is decided only in the tenant scope of its organization'
            using errcode = 'insufficient_privilege';
        end if;
        insert into public.tenant_commit_decisions (gid, database_key, outcome) values (p_gid, p_key, 'commit');
      end $$`,
    )
    .execute(db);
  await sql
    .raw(
      `create function app_tenant_commit_outcome(p_gids text[], p_key text)
        returns table (gid text, outcome text)
        language plpgsql security definer set search_path = pg_catalog, public as $$
      begin
        ${OUTSIDE_TENANT_SCOPE('app_tenant_commit_outcome')}
        insert into public.tenant_commit_decisions (gid, database_key, outcome)
          select g, p_key, 'abort' from unnest(p_gids) g where g ~ '^sr_tc_[0-9a-f]{32}_[0-9a-f]{32}$'
          on conflict do nothing;
        -- Whatever key decided it (a gid is unique): two keys naming one database must agree.
        return query select d.gid, d.outcome from public.tenant_commit_decisions d where d.gid = any (p_gids);
      end $$`,
    )
    .execute(db);
  await sql
    .raw(
      `create function app_tenant_commit_forget(p_gids text[], p_key text) returns integer
        language plpgsql security definer set search_path = pg_catalog, public as $$
      declare
        v_n integer;
      begin
        ${OUTSIDE_TENANT_SCOPE('app_tenant_commit_forget')}
        -- Old decisions only: a part still prepared is always younger than the resolver's forget age.
        delete from public.tenant_commit_decisions d
          where d.gid = any (p_gids) and d.database_key = p_key and d.decided_at < now() - interval '5 minutes';
        get diagnostics v_n = row_count;
        return v_n;
      end $$`,
    )
    .execute(db);
  await sql
    .raw(
      `create function app_tenant_commit_pending(p_key text, p_age_seconds double precision)
        returns table (gid text)
        language plpgsql security definer set search_path = pg_catalog, public as $$
      begin
        ${OUTSIDE_TENANT_SCOPE('app_tenant_commit_pending')}
        return query select d.gid from public.tenant_commit_decisions d
          where d.database_key = p_key and d.decided_at < now() - make_interval(secs => p_age_seconds)
          order by d.decided_at limit 10000;
      end $$`,
    )
    .execute(db);
  // Invoice finalization of a `database` placement (its invoices in the tenant database, the numbering
  // counter global in the control database): the number from the control database's counter, then the
  // finalization with that number on the tenant database, in one two-phase commit (privileged.ts).
  await sql`create function app_invoice_number_next(p_org uuid) returns bigint
    language plpgsql volatile security definer set search_path = pg_catalog, public set lock_timeout = '5s' as $$
    declare v_next bigint;
    begin
      if p_org is null or p_org is distinct from public.app_current_tenant() then
        raise exception 'invoice numbering outside the tenant scope of its organization'
          using errcode = 'insufficient_privilege';
      end if;
      begin
        update public.invoice_number_counter c set last_value = c.last_value + 1
          where c.singleton returning c.last_value into v_next;
      exception when lock_not_available then
        raise exception 'invoice numbering busy: another finalization held the counter for 5s; retry'
          using errcode = 'lock_not_available';
      end;
      return v_next;
    end $$`.execute(db);
  await sql`create function app_invoice_finalize(p_org uuid, p_invoice uuid, p_number bigint)
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
      -- Only in a tenant database (where no organization has a placement row): on the control database
      -- every organization's number comes from the counter (the two-argument form).
      if exists (select 1 from public.tenant_placements p where p.organization_id = p_org) then
        raise exception 'an invoice number is given only in a tenant database' using errcode = 'insufficient_privilege';
      end if;
      if p_number is null or p_number < 1 then
        raise exception 'invoice number must be positive' using errcode = 'check_violation';
      end if;
      v_next := p_number;
      -- The counter's row lock (control database) is held until the two-phase commit is decided.
      v_at := clock_timestamp();
      v_number := 'INV-' || lpad(v_next::text, greatest(6, length(v_next::text)), '0');
      update invoices i set status = 'finalized', number = v_number, finalized_at = v_at
        where i.organization_id = p_org and i.id = p_invoice;
      return query select v_number, v_at;
    end $$`.execute(db);
  // Deleting an organization of a `database` placement (its region's database): the worker role empties
  // what the tenant database holds of it, table by table in foreign key order, then its row's copy. Only
  // where the organization has no placement row (a tenant database: on the control database the
  // deletion ledger's purge, app_priv_deletion_purge, is the only way).
  await sql`create function worker_api.app_priv_tenant_database_purge(p_org uuid, p_limit integer)
    returns table (table_name text, deleted bigint)
    language plpgsql volatile security definer set search_path = pg_catalog, public as $$
    declare r record; v_with oid[] := '{}'; v_target oid; v_has boolean; v_n bigint;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the tenant database purge'))}
      -- Not on the organization's control database: there it has a placement row, or (mid-deletion, once
      -- the control purge removed that row) a deletion ledger; the control purge is the ledger's own.
      if p_org is null
          or exists (select 1 from public.tenant_placements p where p.organization_id = p_org)
          or exists (select 1 from public.organization_deletions d where d.id = p_org) then
        raise exception 'organization % is placed from this database: its purge is app_priv_deletion_purge', p_org
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      perform set_config('app.purging_organization', p_org::text, true);
      for r in select c.oid from pg_class c
          join pg_attribute a on a.attrelid = c.oid and a.attname = 'organization_id' and a.attnum > 0
            and not a.attisdropped
         where c.relkind in ('r', 'p') and not c.relispartition and c.relnamespace = 'public'::regnamespace
         order by c.relname loop
        execute format('select exists (select 1 from %s where organization_id = $1)', r.oid::regclass)
          into v_has using p_org;
        if v_has then v_with := v_with || r.oid; end if;
      end loop;
      if cardinality(v_with) = 0 then
        delete from public.organizations o where o.id = p_org;
        get diagnostics v_n = row_count;
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
      return query select v_target::regclass::text, v_n;
    end $$`.execute(db);
  await sql`alter function worker_api.app_priv_tenant_database_purge(uuid, integer) owner to ${definer}`.execute(
    db,
  );
  await sql`revoke all on function worker_api.app_priv_tenant_database_purge(uuid, integer) from public`.execute(
    db,
  );
  await sql`grant execute on function worker_api.app_priv_tenant_database_purge(uuid, integer) to ${sql.id(ctx.roles.worker)}`.execute(
    db,
  );
  // A tenant database aggregates its own usage events (its worker role), by the meters' definitions, which
  // are the control database's (platform administrators create them there): copied in before each run.
  // Upserted (never deleted: events name their meter), on a tenant database only (no placement rows).
  await sql`create function worker_api.app_usage_meters_sync(p_meters jsonb) returns integer
    language plpgsql volatile security definer set search_path = pg_catalog, public as $$
    declare v_n integer;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the meters copy'))}
      if exists (select 1 from public.tenant_placements) then
        raise exception 'meters are copied only into a tenant database' using errcode = 'object_not_in_prerequisite_state';
      end if;
      insert into public.meters as m (key, aggregation, property, unit, description, created_at, updated_at, archived_at)
        select r.key, r.aggregation, r.property, r.unit, r.description, r.created_at, r.updated_at, r.archived_at
          from jsonb_populate_recordset(null::public.meters, p_meters) r
        on conflict (key) do update set aggregation = excluded.aggregation, property = excluded.property,
          unit = excluded.unit, description = excluded.description, updated_at = excluded.updated_at,
          archived_at = excluded.archived_at
        where (m.aggregation, m.property, m.unit, m.description, m.archived_at)
          is distinct from (excluded.aggregation, excluded.property, excluded.unit, excluded.description,
                            excluded.archived_at);
      get diagnostics v_n = row_count;
      return v_n;
    end $$`.execute(db);
  await sql`alter function worker_api.app_usage_meters_sync(jsonb) owner to ${definer}`.execute(db);
  await sql`revoke all on function worker_api.app_usage_meters_sync(jsonb) from public`.execute(db);
  await sql`grant execute on function worker_api.app_usage_meters_sync(jsonb) to ${sql.id(ctx.roles.worker)}`.execute(
    db,
  );
  for (const fn of [
    'app_tenant_commit_decide(text, text)',
    'app_tenant_commit_outcome(text[], text)',
    'app_tenant_commit_forget(text[], text)',
    'app_tenant_commit_pending(text, double precision)',
    'app_invoice_number_next(uuid)',
    'app_invoice_finalize(uuid, uuid, bigint)',
  ]) {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    await sql`grant execute on function ${sql.raw(fn)} to ${runtime}`.execute(db);
  }
}
