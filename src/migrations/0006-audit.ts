import { sql, type Kysely } from 'kysely';
import { createTenantTable, type MigrationContext } from '../platform/tenancy/migration-helpers.js';

const APPEND_SIGNATURE = `app_audit_append(uuid, text, text, uuid, timestamptz, text, text, text, text, text,
  text, text, text, jsonb, jsonb)`;
const PLATFORM_APPEND_SIGNATURE = `app_platform_audit_append(text, text, uuid, timestamptz, text, text, text,
  text, text, text, text, text, jsonb, jsonb)`;

/**
 * The tamper-evident audit log: per-organization hash chains (`audit_events`, append-only), the chain
 * heads that serialize appends, signed checkpoints, and the same chain for platform-level actions.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);
  const privileged = async (fn: string) => {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    await sql`grant execute on function ${sql.raw(fn)} to ${runtime}`.execute(db);
  };
  const eventColumns = `seq bigint not null check (seq > 0),
      id uuid not null,
      occurred_at timestamptz not null,
      actor_type text not null check (actor_type in ('user', 'api_key', 'system', 'anonymous')),
      actor_id text,
      action text not null check (action ~ '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$'),
      target_type text not null,
      target_id text,
      ip text,
      user_agent text,
      request_id text,
      changes jsonb,
      metadata jsonb,
      prev_hash bytea not null check (length(prev_hash) = 32),
      hash bytea not null check (length(hash) = 32)`;
  await createTenantTable(db, ctx, {
    name: 'audit_events',
    columns: eventColumns,
    primaryKey: ['seq'],
    appendOnly: true,
  });
  await sql`create index audit_events_action_idx on audit_events (organization_id, action, seq)`.execute(db);
  await sql`create index audit_events_actor_idx on audit_events (organization_id, actor_id, seq)`.execute(db);
  await sql`create index audit_events_target_idx on audit_events (organization_id, target_type, target_id, seq)`.execute(
    db,
  );
  await sql`create index audit_events_time_idx on audit_events (organization_id, occurred_at)`.execute(db);

  // One row per organization: the last seq and hash. Appends lock it (upsert), which is what keeps the
  // chain gapless and ordered under concurrent writers. Never deleted by the runtime role.
  await createTenantTable(db, ctx, {
    name: 'audit_chain_heads',
    columns: `seq bigint not null,
      hash bytea not null,
      updated_at timestamptz not null default now()`,
    primaryKey: [],
  });
  await sql`revoke delete, truncate on audit_chain_heads from ${runtime}`.execute(db);

  // One statement per append: lock the head (select … for update), compute the hash in the database
  // over the canonical JSON the application built (with the seq spliced in), insert, move the head. The
  // lock is held from this statement to COMMIT, so the critical section is one statement plus the commit.
  // It is the ONLY way to append: the runtime role may not insert events or touch the heads itself (a
  // rewound head or a planted seq would break every later append). SECURITY DEFINER (owned by the
  // definer role), so it checks the tenant itself: only the organization of the current tenant scope.
  await sql`create function app_audit_append(p_org uuid, p_prefix text, p_suffix text, p_id uuid,
      p_occurred_at timestamptz, p_actor_type text, p_actor_id text, p_action text, p_target_type text,
      p_target_id text, p_ip text, p_user_agent text, p_request_id text, p_changes jsonb, p_metadata jsonb)
    returns table (seq bigint, hash bytea) language plpgsql security definer
    set search_path = pg_catalog, public as $$
    declare v_seq bigint; v_prev bytea; v_hash bytea;
    begin
      if p_org is null or p_org is distinct from public.app_current_tenant() then
        raise exception 'audit append outside the tenant scope of its organization'
          using errcode = 'insufficient_privilege';
      end if;
      -- Lock the head (created at seq 0 by the first append); one write of it per append, at the end.
      select h.seq, h.hash into v_seq, v_prev from public.audit_chain_heads h
        where h.organization_id = p_org for update;
      if not found then
        insert into public.audit_chain_heads (organization_id, seq, hash)
          values (p_org, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
          on conflict (organization_id) do nothing;
        select h.seq, h.hash into v_seq, v_prev from public.audit_chain_heads h
          where h.organization_id = p_org for update;
      end if;
      v_seq := v_seq + 1;
      v_hash := sha256(v_prev || convert_to(p_prefix || v_seq::text || p_suffix, 'UTF8'));
      insert into public.audit_events (organization_id, seq, id, occurred_at, actor_type, actor_id, action,
          target_type, target_id, ip, user_agent, request_id, changes, metadata, prev_hash, hash)
        values (p_org, v_seq, p_id, p_occurred_at, p_actor_type, p_actor_id, p_action, p_target_type,
          p_target_id, p_ip, p_user_agent, p_request_id, p_changes, p_metadata, v_prev, v_hash);
      update public.audit_chain_heads h set seq = v_seq, hash = v_hash, updated_at = now()
        where h.organization_id = p_org;
      return query select v_seq, v_hash;
    end $$`.execute(db);
  await sql`grant select, insert on audit_events to ${definer}`.execute(db);
  await sql`grant select, insert, update on audit_chain_heads to ${definer}`.execute(db);
  await sql`revoke insert on audit_events from ${runtime}`.execute(db);
  await sql`revoke insert, update on audit_chain_heads from ${runtime}`.execute(db);
  await privileged(APPEND_SIGNATURE);

  await createTenantTable(db, ctx, {
    name: 'audit_checkpoints',
    columns: `id uuid not null,
      seq bigint not null,
      head_hash bytea not null check (length(head_hash) = 32),
      signed_at timestamptz not null,
      key_id text not null,
      signature bytea not null`,
    primaryKey: ['id'],
    appendOnly: true,
  });
  await sql`create index audit_checkpoints_seq_idx on audit_checkpoints (organization_id, seq)`.execute(db);
  // The hourly job's one cross-tenant question: which chains moved since their last checkpoint by this key.
  await sql`grant select on audit_checkpoints to ${definer}`.execute(db);
  await sql`create function app_priv_audit_chains_to_checkpoint(p_key_id text, p_after uuid, p_limit integer)
    returns table (organization_id uuid)
    language sql stable security definer set search_path = pg_catalog, public
    as $$ select h.organization_id from public.audit_chain_heads h
          where (p_after is null or h.organization_id > p_after)
            and h.seq > coalesce((select max(c.seq) from public.audit_checkpoints c
                                   where c.organization_id = h.organization_id and c.key_id = p_key_id), 0)
          order by h.organization_id limit least(greatest(p_limit, 1), 1000) $$`.execute(db);
  await privileged('app_priv_audit_chains_to_checkpoint(text, uuid, integer)');

  // Platform-level actions (feature flag definitions, …) have no organization: one chain of their own.
  await sql`create table platform_audit_events (${sql.raw(eventColumns)}, primary key (seq))`.execute(db);
  await sql`create table platform_audit_head (
    singleton boolean primary key default true check (singleton),
    seq bigint not null,
    hash bytea not null,
    updated_at timestamptz not null default now()
  )`.execute(db);
  await sql`grant select on platform_audit_events, platform_audit_head to ${runtime}`.execute(db);
  await sql`grant select, insert on platform_audit_events to ${definer}`.execute(db);
  await sql`grant select, insert, update on platform_audit_head to ${definer}`.execute(db);
  await sql`create function app_platform_audit_append(p_prefix text, p_suffix text, p_id uuid,
      p_occurred_at timestamptz, p_actor_type text, p_actor_id text, p_action text, p_target_type text,
      p_target_id text, p_ip text, p_user_agent text, p_request_id text, p_changes jsonb, p_metadata jsonb)
    returns table (seq bigint, hash bytea) language plpgsql security definer
    set search_path = pg_catalog, public as $$
    declare v_seq bigint; v_prev bytea; v_hash bytea;
    begin
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
    end $$`.execute(db);
  await privileged(PLATFORM_APPEND_SIGNATURE);

  // Grants are the first wall; this trigger is the second, and also stops the owner by accident. A DELETE
  // fired by another trigger is the cascade of deleting the organization itself (the runtime role cannot).
  await sql`create function app_audit_refuse_change() returns trigger language plpgsql as $$
    begin
      if tg_op = 'DELETE' and pg_trigger_depth() > 1 then return old; end if;
      raise exception 'audit records are append-only: % on % refused', tg_op, tg_table_name
        using errcode = 'insufficient_privilege';
    end $$`.execute(db);
  for (const t of ['audit_events', 'audit_checkpoints', 'platform_audit_events']) {
    await sql`create trigger ${sql.id(`${t}_append_only`)} before update or delete on ${sql.id(t)}
      for each row execute function app_audit_refuse_change()`.execute(db);
    await sql`create trigger ${sql.id(`${t}_no_truncate`)} before truncate on ${sql.id(t)}
      for each statement execute function app_audit_refuse_change()`.execute(db);
  }
}
