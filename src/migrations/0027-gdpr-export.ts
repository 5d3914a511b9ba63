import { sql, type Kysely } from 'kysely';
import { createTenantTable, type MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

const ROLE = /^[a-z_][a-z0-9_]{0,62}$/;
const EXPORT_STATUS = `status text not null default 'queued'
        check (status in ('queued', 'running', 'ready', 'failed', 'expired'))`;
const EXPORT_PROGRESS = `tables_total integer not null default 0 check (tables_total >= 0),
      tables_done integer not null default 0 check (tables_done >= 0),
      rows_exported bigint not null default 0 check (rows_exported >= 0),
      size_bytes bigint check (size_bytes >= 0),
      archive_sha256 text check (archive_sha256 ~ '^[0-9a-f]{64}$'),
      error text check (char_length(error) <= 500),
      created_at timestamptz not null default now(),
      started_at timestamptz,
      finished_at timestamptz,
      expires_at timestamptz,
      check ((status = 'ready') <= (expires_at is not null))`;

/**
 * The body of a platform-chain append (the hashing of `app_platform_audit_append`, migration 0012), after
 * `guard` (PL/pgSQL that raises unless the caller's contract holds).
 */
const PLATFORM_APPEND_BODY = (guard: string) => `
    declare v_seq bigint; v_prev bytea; v_hash bytea;
    begin ${OUTSIDE_TENANT_SCOPE('a platform audit append')}
      ${guard}
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
      return query select v_seq, v_hash;
    end`;
const APPEND_PARAMS = `p_prefix text, p_suffix text, p_id uuid,
      p_occurred_at timestamptz, p_actor_type text, p_actor_id text, p_action text, p_target_type text,
      p_target_id text, p_ip text, p_user_agent text, p_request_id text, p_changes jsonb, p_metadata jsonb`;
const APPEND_TYPES =
  'text, text, uuid, timestamptz, text, text, text, text, text, text, text, text, jsonb, jsonb';

/**
 * Issue 12, GDPR export and retention (docs/gdpr.md).
 *
 * - `organization_exports` / `organization_export_chunks` (tenant): an organization's exports with their
 *   progress, and each finished archive stored in the database in chunks of at most 1 MiB (so any instance
 *   serves the download), under forced RLS. At most one queued or running export per organization.
 * - `account_exports` / `account_export_chunks` (global, keyed by user like `sessions`): a user's own
 *   exports, the same way; at most one queued or running per user; `idempotency_key` per user.
 * - `worker_api.app_priv_account_export_rows(export, kind, after_org, after_seq, limit)`: the one path
 *   across organizations an account export takes: the memberships of the export's user, or the audit
 *   events whose actor is that user, only while that export is `running`. Worker role only.
 * - `worker_api.app_retention_purge(kind, cutoff, limit)`: the retention job's batched deletes (at most
 *   `limit` rows a call, each call its own short transaction). Worker role only.
 * - `worker_api.app_retention_audit(…)`: appends a `retention.purged` event by the system actor
 *   `retention` to the platform chain. Worker role only.
 * - `app_account_export_audit(…)`: appends `account.export_requested` / `account.export_downloaded` to the
 *   platform chain, only for an account export of the event's (user) actor. Runtime role, outside a scope.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);
  const worker = sql.id(ctx.roles.worker);
  if (!ROLE.test(ctx.roles.definer)) throw new Error(`invalid definer role name: ${ctx.roles.definer}`);

  await createTenantTable(db, ctx, {
    name: 'organization_exports',
    columns: `id uuid not null,
      requested_by uuid not null,
      ${EXPORT_STATUS},
      ${EXPORT_PROGRESS}`,
    primaryKey: ['id'],
  });
  await sql`create unique index organization_exports_one_running on organization_exports (organization_id)
    where status in ('queued', 'running')`.execute(db);
  await sql`revoke all on organization_exports from ${runtime}`.execute(db);
  await sql`grant select, insert, update on organization_exports to ${runtime}`.execute(db);

  await createTenantTable(db, ctx, {
    name: 'organization_export_chunks',
    columns: `export_id uuid not null,
      seq integer not null check (seq >= 0),
      data bytea not null,
      foreign key (organization_id, export_id) references organization_exports (organization_id, id)
        on delete cascade`,
    primaryKey: ['export_id', 'seq'],
  });
  await sql`revoke all on organization_export_chunks from ${runtime}`.execute(db);
  await sql`grant select, insert, delete on organization_export_chunks to ${runtime}`.execute(db);

  await sql`create table account_exports (
      id uuid primary key,
      user_id uuid not null references users (id) on delete cascade,
      idempotency_key text check (idempotency_key ~ '^[\\x21-\\x7e]{1,255}$'),
      request_hash text,
      ${sql.raw(EXPORT_STATUS)},
      ${sql.raw(EXPORT_PROGRESS)}
    )`.execute(db);
  await sql`create index account_exports_user on account_exports (user_id, id)`.execute(db);
  await sql`create unique index account_exports_one_running on account_exports (user_id)
    where status in ('queued', 'running')`.execute(db);
  await sql`create unique index account_exports_idempotency on account_exports (user_id, idempotency_key)
    where idempotency_key is not null`.execute(db);
  await sql`create table account_export_chunks (
      export_id uuid not null references account_exports (id) on delete cascade,
      seq integer not null check (seq >= 0),
      data bytea not null,
      primary key (export_id, seq)
    )`.execute(db);
  await sql`revoke all on account_exports, account_export_chunks from public`.execute(db);
  await sql`grant select, insert, update on account_exports to ${runtime}`.execute(db);
  await sql`grant select, insert, delete on account_export_chunks to ${runtime}`.execute(db);

  await sql`insert into enqueueable_tasks (task, description) values
    ('gdpr.organization_export', 'builds an organization export archive (docs/gdpr.md)'),
    ('gdpr.account_export', 'builds a user''s account export archive (docs/gdpr.md)')`.execute(db);

  // What the definer functions below read and delete (the definer bypasses RLS, not privileges).
  await sql`grant select on memberships, organizations, audit_events, account_exports to ${definer}`.execute(
    db,
  );
  await sql`grant select, delete on sessions, refresh_tokens, email_tokens, invitations, invitation_sends,
    idempotency_keys, organization_export_chunks, account_export_chunks to ${definer}`.execute(db);
  await sql`grant select, update on organization_exports, account_exports to ${definer}`.execute(db);

  await sql`create function worker_api.app_priv_account_export_rows(p_export uuid, p_kind text,
      p_after_org uuid, p_after_seq bigint, p_limit integer)
    returns table (organization_id uuid, seq bigint, data jsonb)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_user uuid;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the account export read'))}
      select e.user_id into v_user from public.account_exports e
        where e.id = p_export and e.status = 'running';
      if v_user is null then
        raise exception 'the account export read needs a running account export'
          using errcode = 'insufficient_privilege';
      end if;
      if p_kind = 'memberships' then
        return query select m.organization_id, 0::bigint,
            to_jsonb(m) || jsonb_build_object('organization_slug', o.slug, 'organization_name', o.name)
          from public.memberships m join public.organizations o on o.id = m.organization_id
          where m.user_id = v_user and (p_after_org is null or m.organization_id > p_after_org)
          order by m.organization_id limit least(greatest(p_limit, 1), 1000);
      elsif p_kind = 'audit_events' then
        return query select a.organization_id, a.seq, to_jsonb(a)
          from public.audit_events a
          where a.actor_type = 'user' and a.actor_id = v_user::text
            and (p_after_org is null or (a.organization_id, a.seq) > (p_after_org, coalesce(p_after_seq, 0)))
          order by a.organization_id, a.seq limit least(greatest(p_limit, 1), 1000);
      else
        raise exception 'unknown kind %', p_kind using errcode = 'invalid_parameter_value';
      end if;
    end $$`.execute(db);

  await sql`create function worker_api.app_retention_purge(p_kind text, p_cutoff timestamptz,
      p_limit integer)
    returns integer
    language plpgsql volatile security definer set search_path = pg_catalog, public as $$
    declare v_limit integer := least(greatest(p_limit, 1), 10000); v_n integer := 0; v_m integer := 0;
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
        delete from public.invitation_sends s using (select x.organization_id, x.id
            from public.invitation_sends x where x.sent_at < p_cutoff limit v_limit) d
          where s.organization_id = d.organization_id and s.id = d.id;
        get diagnostics v_m = row_count;
        return v_n + v_m;
      elsif p_kind = 'idempotency_keys' then
        delete from public.idempotency_keys k using (select x.organization_id, x.scope, x.key
            from public.idempotency_keys x where x.created_at < p_cutoff limit v_limit
           ) d
          where k.organization_id = d.organization_id and k.scope = d.scope and k.key = d.key;
      elsif p_kind = 'exports' then
        -- Archives past their expiry: the chunks go, the export row stays (status 'expired'). Counts exports.
        with gone as (update public.organization_exports e set status = 'expired'
            from (select x.organization_id, x.id from public.organization_exports x
                  where x.status = 'ready' and x.expires_at < p_cutoff limit v_limit
                  for update skip locked) d
            where e.organization_id = d.organization_id and e.id = d.id
            returning e.organization_id, e.id),
          chunks as (delete from public.organization_export_chunks c using gone
            where c.organization_id = gone.organization_id and c.export_id = gone.id returning 1)
          select count(*)::integer into v_n from gone;
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

  await sql`create function worker_api.app_retention_audit(${sql.raw(APPEND_PARAMS)})
    returns table (seq bigint, hash bytea) language plpgsql security definer
    set search_path = pg_catalog, public as $$ ${sql.raw(
      PLATFORM_APPEND_BODY(`
      if p_actor_type is distinct from 'system' or p_actor_id is distinct from 'retention'
         or p_action is distinct from 'retention.purged' then
        raise exception 'the retention audit is refused for anything but retention.purged events of the system actor retention'
          using errcode = 'insufficient_privilege';
      end if;`),
    )} $$`.execute(db);

  await sql`create function app_account_export_audit(${sql.raw(APPEND_PARAMS)})
    returns table (seq bigint, hash bytea) language plpgsql security definer
    set search_path = pg_catalog, public as $$ ${sql.raw(
      PLATFORM_APPEND_BODY(`
      if p_actor_type is distinct from 'user'
         or p_action not in ('account.export_requested', 'account.export_downloaded')
         or p_target_type is distinct from 'account_export'
         or p_target_id !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
         or not exists (select 1 from public.account_exports e
                        where e.id = p_target_id::uuid and e.user_id::text = p_actor_id) then
        raise exception 'the account export audit needs an account export of the event''s user'
          using errcode = 'insufficient_privilege';
      end if;`),
    )} $$`.execute(db);
  await sql`grant select, insert on platform_audit_events to ${definer}`.execute(db);
  await sql`grant select, insert, update on platform_audit_head to ${definer}`.execute(db);

  const workerFns = [
    'worker_api.app_priv_account_export_rows(uuid, text, uuid, bigint, integer)',
    'worker_api.app_retention_purge(text, timestamptz, integer)',
    `worker_api.app_retention_audit(${APPEND_TYPES})`,
  ];
  for (const fn of workerFns) {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    await sql`grant execute on function ${sql.raw(fn)} to ${worker}`.execute(db);
  }
  const audit = `app_account_export_audit(${APPEND_TYPES})`;
  await sql`alter function ${sql.raw(audit)} owner to ${definer}`.execute(db);
  await sql`revoke all on function ${sql.raw(audit)} from public`.execute(db);
  await sql`grant execute on function ${sql.raw(audit)} to ${runtime}`.execute(db);
}
