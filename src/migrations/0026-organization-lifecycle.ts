import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE, PLATFORM_SCOPE } from './sql-helpers.js';

const ROLE = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Issue 12, tenant lifecycle states and organization deletion (docs/organization-lifecycle.md).
 * - `organizations.lifecycle_state` (`active`, `suspended`, `pending_deletion`; `deleted` is the absence of
 *   the row) with `suspension_reason` (`admin`, `billing`, `deletion`) and `deletion_due_at`: one state
 *   model, held together by check constraints, replacing `suspended_by` (migration 0021) and the bare
 *   `deletion_requested_at` mark. Existing rows: a suspension keeps its reason (`administrator` → `admin`)
 *   and wins over a deletion mark (the stronger restriction; the owner asks again once reactivated); a
 *   deletion mark alone becomes `pending_deletion`, due 30 days after the later of the mark and now.
 * - `organization_deletions` (global, out of the runtime role's reach): the resumable ledger of each hard
 *   delete — the organization's id, SHA-256 of its slug, the phase, rows deleted per table.
 * - The definer role may SELECT and DELETE every tenant table (`createTenantTable` grants it from now
 *   on; the catalog test holds every table with `organization_id` to it), and the append-only triggers of
 *   the audit tables and invoices let it delete the rows of the one organization it is purging
 *   (`app.purging_organization`, set by the purge function itself).
 * - `worker_api.app_priv_deletion_*`: the worker role's deletion job (due list, start, one batch,
 *   keys shredded, the record in the platform chain). Outside any tenant scope.
 * - `app_priv_platform_organizations_pending_deletion`, `app_platform_organization_expedite_deletion`:
 *   platform administrators (platform scope of a live session).
 * - `app_priv_user_organizations`: organizations pending deletion stay in their members' lists (members
 *   read, owners cancel); only one being deleted leaves them.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);
  const worker = sql.id(ctx.roles.worker);
  if (!ROLE.test(ctx.roles.definer)) throw new Error(`invalid definer role name: ${ctx.roles.definer}`);
  const definerLit = sql.lit(ctx.roles.definer);
  const own = async (fn: string, to: typeof runtime) => {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    await sql`grant execute on function ${sql.raw(fn)} to ${to}`.execute(db);
  };

  // 1. The state model.
  await sql`alter table organizations
    add column lifecycle_state text not null default 'active'
      check (lifecycle_state in ('active', 'suspended', 'pending_deletion')),
    add column suspension_reason text check (suspension_reason in ('admin', 'billing', 'deletion')),
    add column deletion_due_at timestamptz`.execute(db);
  // The owner is subject to the forced RLS of its own table (no policy is its): lifted for these two
  // statements, inside this migration's transaction (which holds the table's lock until it commits).
  await sql`alter table organizations no force row level security`.execute(db);
  await sql`update organizations set lifecycle_state = 'suspended',
      suspension_reason = case when suspended_by = 'billing' then 'billing' else 'admin' end,
      deletion_requested_at = null
    where suspended_at is not null`.execute(db);
  await sql`update organizations set lifecycle_state = 'pending_deletion',
      deletion_due_at = greatest(deletion_requested_at, now()) + interval '30 days'
    where suspended_at is null and deletion_requested_at is not null`.execute(db);
  await sql`alter table organizations force row level security`.execute(db);
  await sql`alter table organizations drop column suspended_by`.execute(db);
  await sql`alter table organizations
    add constraint organizations_suspension_reason
      check ((lifecycle_state = 'suspended') = (suspension_reason is not null)),
    add constraint organizations_suspended_at
      check ((lifecycle_state = 'suspended') = (suspended_at is not null)),
    add constraint organizations_deletion_due
      check ((lifecycle_state = 'pending_deletion' or suspension_reason is not distinct from 'deletion')
             = (deletion_due_at is not null)),
    add constraint organizations_deletion_requested
      check ((deletion_due_at is null) = (deletion_requested_at is null))`.execute(db);
  await sql`create index organizations_deletion_due_at on organizations (deletion_due_at, id)
    where deletion_due_at is not null`.execute(db);

  // 2. The ledger of hard deletes.
  await sql`create table organization_deletions (
    id uuid primary key,
    slug_sha256 bytea not null check (octet_length(slug_sha256) = 32),
    requested_at timestamptz not null,
    due_at timestamptz not null,
    started_at timestamptz not null default now(),
    phase text not null default 'purging' check (phase in ('purging', 'shredding', 'recording', 'done')),
    row_counts jsonb not null default '{}'::jsonb,
    keys_destroyed integer check (keys_destroyed >= 0),
    completed_at timestamptz,
    check ((phase = 'done') = (completed_at is not null))
  )`.execute(db);
  await sql`revoke all on organization_deletions from public`.execute(db);
  await sql`grant select, insert, update on organization_deletions to ${definer}`.execute(db);

  // 3. What the purge may touch: every tenant table (found in the catalog, as the purge finds them), and
  // the organization row itself.
  await sql`do $$ declare r record; begin
    for r in select c.oid::regclass as t from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid and a.attname = 'organization_id' and a.attnum > 0
          and not a.attisdropped
       where c.relkind in ('r', 'p') and not c.relispartition
         and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%' loop
      execute format('grant select, delete on %s to %I', r.t, ${definerLit}::text);
    end loop;
  end $$`.execute(db);
  await sql`grant select, delete on organizations to ${definer}`.execute(db);
  await sql`grant update (lifecycle_state, suspension_reason, suspended_at, deletion_due_at, updated_at)
    on organizations to ${definer}`.execute(db);

  // 4. The append-only guards let the purge of one organization through (the definer role, with the
  // organization named in the transaction-local setting the purge function sets), nothing else.
  await sql`create or replace function app_audit_refuse_change() returns trigger language plpgsql as $$
    begin
      if tg_op = 'DELETE' and pg_trigger_depth() > 1 then return old; end if;
      if tg_op = 'DELETE' and tg_table_name <> 'platform_audit_events' and current_user = ${definerLit}
          and current_setting('app.purging_organization', true) is not null then
        if old.organization_id::text = current_setting('app.purging_organization', true) then
          return old;
        end if;
      end if;
      raise exception 'audit records are append-only: % on % refused', tg_op, tg_table_name
        using errcode = 'insufficient_privilege';
    end $$`.execute(db);
  await sql`create or replace function app_invoice_guard() returns trigger language plpgsql
    set search_path = pg_catalog, public as $$
    begin
      if tg_op = 'DELETE' then
        if old.status = 'draft' then
          return old;
        end if;
        if current_user = ${definerLit}
            and old.organization_id::text = current_setting('app.purging_organization', true) then
          return old;
        end if;
        raise exception 'invoice % is % and cannot be deleted: refused', old.id, old.status
          using errcode = 'insufficient_privilege';
      end if;
      if old.status = 'draft' then
        if new.status = 'draft' or (new.status = 'finalized' and current_user = ${definerLit}) then
          return new;
        end if;
      elsif old.status = 'finalized' and new.status = 'void'
          and (new.organization_id, new.id, new.number, new.currency, new.period_start, new.period_end,
               new.subtotal, new.total, new.lines, new.minor_units, new.customer_name, new.issuer,
               new.created_at, new.finalized_at)
          is not distinct from
              (old.organization_id, old.id, old.number, old.currency, old.period_start, old.period_end,
               old.subtotal, old.total, old.lines, old.minor_units, old.customer_name, old.issuer,
               old.created_at, old.finalized_at) then
        return new;
      end if;
      raise exception 'invoice % is % and immutable: refused', old.id, old.status
        using errcode = 'insufficient_privilege';
    end $$`.execute(db);

  // 5. The worker role's deletion job.
  // Organizations to work on: hard deletes under way first (any phase before done), then those due.
  await sql`create function worker_api.app_priv_deletion_due(p_now timestamptz, p_limit integer)
    returns table (organization_id uuid, phase text)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the organization deletion scan'))}
      return query (select d.id, d.phase from public.organization_deletions d where d.phase <> 'done'
                     order by d.started_at, d.id limit least(greatest(p_limit, 1), 1000))
        union all
        (select o.id, 'due'::text from public.organizations o
          where o.lifecycle_state = 'pending_deletion' and o.deletion_due_at <= p_now
          order by o.deletion_due_at, o.id limit least(greatest(p_limit, 1), 1000));
    end $$`.execute(db);
  await own('worker_api.app_priv_deletion_due(timestamptz, integer)', worker);

  // Starts the hard delete of a due organization: `suspended` for `deletion` (nobody enters it any more,
  // no cancel) and its ledger row, in one transaction. False when it is not pending and due (cancelled).
  await sql`create function worker_api.app_priv_deletion_start(p_org uuid, p_now timestamptz)
    returns boolean
    language plpgsql security definer set search_path = pg_catalog, public as $$
    declare v_slug text; v_requested timestamptz; v_due timestamptz;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the organization deletion start'))}
      select o.slug, o.deletion_requested_at, o.deletion_due_at into v_slug, v_requested, v_due
        from public.organizations o
        where o.id = p_org and o.lifecycle_state = 'pending_deletion' and o.deletion_due_at <= p_now
        for update;
      if not found then return false; end if;
      update public.organizations set lifecycle_state = 'suspended', suspension_reason = 'deletion',
          suspended_at = now(), updated_at = now()
        where id = p_org;
      insert into public.organization_deletions (id, slug_sha256, requested_at, due_at)
        values (p_org, sha256(convert_to(v_slug, 'UTF8')), v_requested, v_due)
        on conflict (id) do nothing;
      return true;
    end $$`.execute(db);
  await own('worker_api.app_priv_deletion_start(uuid, timestamptz)', worker);

  // One batch of the purge, in the caller's transaction (committed with the ledger's counts, so a crash
  // resumes exactly): the tenant tables are every table with an organization_id column, read from the
  // catalog on each call (a table added later is covered). Deletes up to p_limit rows of p_org from a
  // table that no other table still holding its rows references (FK-safe order); when none holds any,
  // deletes the organization row and moves the ledger to `shredding`. Returns the table and the count.
  await sql`create function worker_api.app_priv_deletion_purge(p_org uuid, p_limit integer)
    returns table (table_name text, deleted bigint)
    language plpgsql security definer set search_path = pg_catalog, public as $$
    declare v_phase text; r record; v_with oid[] := '{}'; v_target oid; v_has boolean; v_n bigint;
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
      update public.organization_deletions d
        set row_counts = jsonb_set(d.row_counts, array[v_target::regclass::text],
              to_jsonb(coalesce((d.row_counts ->> v_target::regclass::text)::bigint, 0) + v_n))
        where d.id = p_org;
      return query select v_target::regclass::text, v_n;
    end $$`.execute(db);
  await own('worker_api.app_priv_deletion_purge(uuid, integer)', worker);

  // The organization's data keys are destroyed: the ledger moves to `recording`.
  await sql`create function worker_api.app_priv_deletion_shredded(p_org uuid, p_destroyed integer)
    returns boolean
    language plpgsql security definer set search_path = pg_catalog, public as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the organization deletion'))}
      update public.organization_deletions d set phase = 'recording', keys_destroyed = p_destroyed
        where d.id = p_org and d.phase = 'shredding';
      return found;
    end $$`.execute(db);
  await own('worker_api.app_priv_deletion_shredded(uuid, integer)', worker);

  // What the ledger holds of one organization (the deletion record is built from it).
  await sql`create function worker_api.app_priv_deletion_ledger(p_org uuid)
    returns table (slug_sha256 text, requested_at timestamptz, due_at timestamptz, started_at timestamptz,
                   phase text, row_counts jsonb, keys_destroyed integer)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the organization deletion ledger'))}
      return query select encode(d.slug_sha256, 'hex'), d.requested_at, d.due_at, d.started_at, d.phase,
                 d.row_counts, d.keys_destroyed
          from public.organization_deletions d where d.id = p_org;
    end $$`.execute(db);
  await own('worker_api.app_priv_deletion_ledger(uuid)', worker);

  // The deletion record: appended to the platform chain (as app_platform_audit_append does, with the
  // system actor `organization-deletion` and only the action `organization.deleted` of this
  // organization), and the ledger marked done, in one transaction.
  await sql`create function worker_api.app_priv_deletion_record(p_org uuid, p_prefix text, p_suffix text,
      p_id uuid, p_occurred_at timestamptz, p_actor_type text, p_actor_id text, p_action text,
      p_target_type text, p_target_id text, p_ip text, p_user_agent text, p_request_id text,
      p_changes jsonb, p_metadata jsonb)
    returns bigint
    language plpgsql security definer set search_path = pg_catalog, public as $$
    declare v_seq bigint; v_prev bytea; v_hash bytea;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the organization deletion record'))}
      if p_actor_type is distinct from 'system' or p_actor_id is distinct from 'organization-deletion'
          or p_action is distinct from 'organization.deleted' or p_target_type is distinct from 'organization'
          or p_target_id is distinct from p_org::text then
        raise exception 'a deletion record is organization.deleted of its organization by organization-deletion'
          using errcode = 'insufficient_privilege';
      end if;
      perform 1 from public.organization_deletions d where d.id = p_org and d.phase = 'recording' for update;
      if not found then
        raise exception 'organization % is not waiting for its deletion record', p_org
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      select h.seq, h.hash into v_seq, v_prev from public.platform_audit_head h where h.singleton for update;
      if not found then
        insert into public.platform_audit_head (singleton, seq, hash)
          values (true, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
          on conflict (singleton) do nothing;
        select h.seq, h.hash into v_seq, v_prev from public.platform_audit_head h where h.singleton for update;
      end if;
      v_seq := v_seq + 1;
      v_hash := sha256(v_prev || convert_to(p_prefix || v_seq::text || p_suffix, 'UTF8'));
      insert into public.platform_audit_events (seq, id, occurred_at, actor_type, actor_id, action,
          target_type, target_id, ip, user_agent, request_id, changes, metadata, prev_hash, hash)
        values (v_seq, p_id, p_occurred_at, p_actor_type, p_actor_id, p_action, p_target_type,
          p_target_id, p_ip, p_user_agent, p_request_id, p_changes, p_metadata, v_prev, v_hash);
      update public.platform_audit_head h set seq = v_seq, hash = v_hash, updated_at = now()
        where h.singleton;
      update public.organization_deletions d set phase = 'done', completed_at = now() where d.id = p_org;
      return v_seq;
    end $$`.execute(db);
  await own(
    'worker_api.app_priv_deletion_record(uuid, text, text, uuid, timestamptz, text, text, text, text, text, text, text, text, jsonb, jsonb)',
    worker,
  );

  // 6. Platform administrators: the organizations pending deletion (or being deleted), soonest due
  // first, keyset-paged on (due, id); and the expedite (due now), confirmed by the organization's slug.
  await sql`create function app_priv_platform_organizations_pending_deletion(p_after_due timestamptz,
      p_after uuid, p_limit integer)
    returns table (id uuid, slug text, name text, personal boolean, members bigint, lifecycle_state text,
                   deletion_requested_at timestamptz, deletion_due_at timestamptz)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_token text; v_actor uuid;
    begin ${sql.raw(PLATFORM_SCOPE('the platform list of organizations pending deletion'))}
      return query select o.id, o.slug, o.name, o.personal,
                 (select count(*) from public.memberships m where m.organization_id = o.id and m.status = 'active'),
                 case when o.suspension_reason = 'deletion' then 'deleting' else o.lifecycle_state end,
                 o.deletion_requested_at, o.deletion_due_at
          from public.organizations o
          where o.deletion_due_at is not null
            and (p_after is null or (o.deletion_due_at, o.id) > (p_after_due, p_after))
          order by o.deletion_due_at, o.id limit least(greatest(p_limit, 1), 200);
    end $$`.execute(db);
  await own('app_priv_platform_organizations_pending_deletion(timestamptz, uuid, integer)', runtime);

  await sql`create function app_platform_organization_expedite_deletion(p_org uuid, p_slug text)
    returns table (lifecycle_state text, slug_matches boolean, due_before timestamptz, due_after timestamptz)
    language plpgsql security definer set search_path = pg_catalog, public as $$
    declare v_token text; v_actor uuid; v_state text; v_slug text; v_due timestamptz; v_reason text;
    begin ${sql.raw(PLATFORM_SCOPE('expediting an organization deletion'))}
      select o.lifecycle_state, o.suspension_reason, o.slug, o.deletion_due_at
        into v_state, v_reason, v_slug, v_due
        from public.organizations o where o.id = p_org for update;
      if not found then return; end if;
      if v_reason = 'deletion' then v_state := 'deleting'; end if;
      if v_state <> 'pending_deletion' or v_slug is distinct from lower(p_slug) then
        return query select v_state, v_slug = lower(p_slug), v_due, v_due;
        return;
      end if;
      update public.organizations o set deletion_due_at = least(o.deletion_due_at, now()), updated_at = now()
        where o.id = p_org;
      return query select v_state, true, v_due, least(v_due, now());
    end $$`.execute(db);
  await own('app_platform_organization_expedite_deletion(uuid, text)', runtime);

  // 7. "My organizations": one pending deletion stays listed (members read it, owners cancel); one being
  // deleted does not. Same contract as migration 0012's.
  await sql`create or replace function app_priv_user_organizations(p_session_token text, p_user uuid,
      p_refresh_family uuid)
    returns table (organization_id uuid, slug text, name text, role text, personal boolean)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_user uuid;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the user organization list'))}
      if p_session_token is not null then
        select s.user_id into v_user from public.sessions s
          where s.token_hash = sha256(convert_to(p_session_token, 'UTF8'))
            and s.revoked_at is null and s.idle_expires_at > now() and s.absolute_expires_at > now();
        if p_user is not null and v_user is distinct from p_user then
          v_user := null;
        end if;
      elsif p_refresh_family is not null and p_user is not null and exists (
          select 1 from public.refresh_tokens r where r.family_id = p_refresh_family and r.user_id = p_user
            and r.used_at is null and r.revoked_at is null and r.expires_at > now()) then
        v_user := p_user;
      end if;
      if v_user is null then
        raise exception 'the user organization list needs a live credential of that user'
          using errcode = 'insufficient_privilege';
      end if;
      return query select o.id, o.slug, o.name, m.role, o.personal
          from public.memberships m join public.organizations o on o.id = m.organization_id
          where m.user_id = v_user and m.status = 'active'
            and o.suspension_reason is distinct from 'deletion'
          order by o.name, o.id;
    end $$`.execute(db);
}
