import { sql, type Kysely } from 'kysely';
import { createTenantTable, type MigrationContext } from '../platform/tenancy/migration-helpers.js';

const OUTSIDE_TENANT_SCOPE = (what: string) => `
      if public.app_current_tenant() is not null then
        raise exception '% is refused inside a tenant scope', '${what}' using errcode = 'insufficient_privilege';
      end if;`;

const ROLE = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Issue 10: an audited write no longer waits on its organization's chain head. The write's transaction
 * inserts its event into `audit_pending` (one plain insert, no lock); `app_audit_seal` moves committed
 * pending events into the chain (`audit_events`) in batches, seconds later, under the head lock. The chain
 * is unchanged (same seq, same hash, same `verifyChain`); its order is the order events were sealed in.
 * A chain proves nothing beyond its last signed checkpoint (hourly), so chaining seconds after commit
 * gives up no integrity, and the event itself is committed with its write or not at all, as before.
 * `app_audit_append` (which held the head lock from the write to its COMMIT) goes.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);
  const worker = sql.id(ctx.roles.worker);
  if (!ROLE.test(ctx.roles.definer)) throw new Error(`invalid definer role name: ${ctx.roles.definer}`);

  // The event as the application drafted it: its canonical JSON split around the seq (prefix, suffix)
  // and the columns `audit_events` stores, with the same checks (a row the chain would refuse must be
  // refused here, at the write, or it would stop its organization's sealing). `pending_id` is the order
  // of sealing among the rows visible to the sealer.
  // The length caps keep every accepted row within what `audit_events` accepts: its btree indexes on
  // (organization_id, action, seq), (…, actor_id, seq) and (…, target_type, target_id, seq) refuse an
  // entry over ~2.7 KB, so action 256 + actor_id 512 + target_type 512 + target_id 1024 octets stay under
  // it. The application clips or refuses well below every cap (chain.ts buildEntry, draft.ts): the entry's
  // canonical JSON is at most 256 KiB, and jsonb's text form of changes/metadata is at most 1.5 times
  // theirs (a space after each ':' and ','), within the 1 MiB cap; only numbers written with a large
  // exponent (1e300) grow more there, and such an event is refused at its write, never at sealing.
  await createTenantTable(db, ctx, {
    name: 'audit_pending',
    columns: `pending_id bigint not null,
      id uuid not null,
      occurred_at timestamptz not null,
      prefix text not null,
      suffix text not null,
      actor_type text not null check (actor_type in ('user', 'api_key', 'system', 'anonymous')),
      actor_id text check (octet_length(actor_id) <= 512),
      action text not null check (action ~ '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$'
        and octet_length(action) <= 256),
      target_type text not null check (octet_length(target_type) <= 512),
      target_id text check (octet_length(target_id) <= 1024),
      ip text check (octet_length(ip) <= 512),
      user_agent text check (octet_length(user_agent) <= 2048),
      request_id text check (octet_length(request_id) <= 1024),
      changes jsonb check (octet_length(changes::text) <= 1048576),
      metadata jsonb check (octet_length(metadata::text) <= 1048576),
      check (octet_length(prefix) + octet_length(suffix) <= 262144)`,
    primaryKey: ['pending_id'],
    appendOnly: true,
  });

  // `pending_id` always comes from its sequence, whatever the insert says: an identity column would let
  // the runtime role pick it (`OVERRIDING SYSTEM VALUE` needs only INSERT) and so jump the sealing order
  // or take an id a later write needs. SECURITY DEFINER (owned by the table's owner, no EXECUTE grant:
  // a trigger needs none) so the runtime role needs no right on the sequence (it could burn ids).
  await sql`create sequence audit_pending_pending_id_seq owned by audit_pending.pending_id`.execute(db);
  await sql`create function app_audit_pending_id() returns trigger language plpgsql security definer
    set search_path = pg_catalog, public as $$
    begin
      new.pending_id := nextval('public.audit_pending_pending_id_seq'::regclass);
      return new;
    end $$`.execute(db);
  await sql`revoke all on function app_audit_pending_id() from public`.execute(db);
  await sql`create trigger audit_pending_id before insert on audit_pending
    for each row execute function app_audit_pending_id()`.execute(db);

  // Grants keep the runtime role to SELECT and INSERT; this trigger also stops the owner by accident.
  // A row leaves only through the sealing function (running as the definer role), or by the cascade of
  // deleting its organization (a DELETE fired by another trigger), as for `audit_events`.
  await sql`create function app_audit_pending_guard() returns trigger language plpgsql as $$
    begin
      if tg_op = 'DELETE' and (current_user = ${sql.lit(ctx.roles.definer)} or pg_trigger_depth() > 1) then
        return old;
      end if;
      raise exception 'pending audit events leave only by sealing: % on % refused', tg_op, tg_table_name
        using errcode = 'insufficient_privilege';
    end $$`.execute(db);
  await sql`revoke all on function app_audit_pending_guard() from public`.execute(db);
  await sql`create trigger audit_pending_sealed_only before update or delete on audit_pending
    for each row execute function app_audit_pending_guard()`.execute(db);
  await sql`create trigger audit_pending_no_truncate before truncate on audit_pending
    for each statement execute function app_audit_pending_guard()`.execute(db);
  await sql`grant select, delete on audit_pending to ${definer}`.execute(db);

  // Seals up to p_max committed pending events of p_org, oldest pending_id first: lock the chain head
  // (waiting for it, or returning -1 at once when p_wait is false and another sealer holds it), chain
  // each event exactly as app_audit_append did (seq = head + 1, hash = SHA-256(prev ‖ prefix ‖ seq ‖
  // suffix)), insert them, delete exactly the rows it chained, move the head. A row committed later with
  // a smaller pending_id (transactions commit out of id order) is simply sealed by a later call. Returns
  // how many it sealed. Same contract as app_audit_append: only in the tenant scope of p_org.
  // Generic plans: its statements are planned once per connection, not again on every call (custom plans
  // of the statements with array parameters cost more than the sealing of a small batch itself).
  await sql`create function app_audit_seal(p_org uuid, p_max integer, p_wait boolean)
    returns integer language plpgsql security definer
    set search_path = pg_catalog, public set plan_cache_mode = force_generic_plan as $$
    declare v_seq bigint; v_prev bytea; v_hash bytea; r record;
      v_ids bigint[] := '{}'; v_seqs bigint[] := '{}'; v_prevs bytea[] := '{}'; v_hashes bytea[] := '{}';
      v_moved integer;
    begin
      if p_org is null or p_org is distinct from public.app_current_tenant() then
        raise exception 'audit seal outside the tenant scope of its organization'
          using errcode = 'insufficient_privilege';
      end if;
      if not exists (select 1 from public.audit_pending p where p.organization_id = p_org) then
        return 0;
      end if;
      if p_wait then
        select h.seq, h.hash into v_seq, v_prev from public.audit_chain_heads h
          where h.organization_id = p_org for update;
      else
        select h.seq, h.hash into v_seq, v_prev from public.audit_chain_heads h
          where h.organization_id = p_org for update skip locked;
      end if;
      if not found then
        if exists (select 1 from public.audit_chain_heads h where h.organization_id = p_org) then
          return -1; -- another sealer holds the head (p_wait false)
        end if;
        insert into public.audit_chain_heads (organization_id, seq, hash)
          values (p_org, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
          on conflict (organization_id) do nothing;
        select h.seq, h.hash into v_seq, v_prev from public.audit_chain_heads h
          where h.organization_id = p_org for update;
      end if;
      -- A new statement, so a new snapshot: it sees what the previous holder of the lock left.
      for r in select p.pending_id, p.prefix, p.suffix from public.audit_pending p
          where p.organization_id = p_org order by p.pending_id limit greatest(p_max, 1) loop
        v_seq := v_seq + 1;
        v_hash := sha256(v_prev || convert_to(r.prefix || v_seq::text || r.suffix, 'UTF8'));
        v_ids := v_ids || r.pending_id;
        v_seqs := v_seqs || v_seq;
        v_prevs := v_prevs || v_prev;
        v_hashes := v_hashes || v_hash;
        v_prev := v_hash;
      end loop;
      if cardinality(v_ids) = 0 then
        return 0;
      end if;
      with moved as (
        delete from public.audit_pending p where p.organization_id = p_org and p.pending_id = any (v_ids)
        returning p.*
      )
      insert into public.audit_events (organization_id, seq, id, occurred_at, actor_type, actor_id, action,
          target_type, target_id, ip, user_agent, request_id, changes, metadata, prev_hash, hash)
        select m.organization_id, x.seq, m.id, m.occurred_at, m.actor_type, m.actor_id, m.action,
            m.target_type, m.target_id, m.ip, m.user_agent, m.request_id, m.changes, m.metadata, x.prev, x.hash
          from moved m join unnest(v_ids, v_seqs, v_prevs, v_hashes) as x (pending_id, seq, prev, hash)
            on x.pending_id = m.pending_id;
      get diagnostics v_moved = row_count;
      if v_moved <> cardinality(v_ids) then
        -- A row vanished between reading and moving it: chaining the rest would leave a gap.
        raise exception 'audit seal of % moved % of % events', p_org, v_moved, cardinality(v_ids);
      end if;
      update public.audit_chain_heads h set seq = v_seq, hash = v_prev, updated_at = now()
        where h.organization_id = p_org;
      return v_moved;
    end $$`.execute(db);
  await sql`alter function app_audit_seal(uuid, integer, boolean) owner to ${definer}`.execute(db);
  await sql`revoke all on function app_audit_seal(uuid, integer, boolean) from public`.execute(db);
  await sql`grant execute on function app_audit_seal(uuid, integer, boolean) to ${runtime}`.execute(db);

  // The only way to append was app_audit_append; now it is audit_pending + app_audit_seal.
  await sql`drop function app_audit_append(uuid, text, text, uuid, timestamptz, text, text, text, text, text,
    text, text, text, jsonb, jsonb)`.execute(db);

  // The sweep (where the job worker runs): which organizations have pending events, e.g. left by a
  // process that stopped before sealing them. The worker's, like the checkpoint scan; ids only.
  await sql`create function worker_api.app_priv_audit_orgs_pending(p_after uuid, p_limit integer)
    returns table (organization_id uuid)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the audit seal sweep'))}
      return query select distinct p.organization_id from public.audit_pending p
          where p_after is null or p.organization_id > p_after
          order by p.organization_id limit least(greatest(p_limit, 1), 1000);
    end $$`.execute(db);
  // The checkpoint scan also names organizations with pending events (signing seals them first), so an
  // organization whose events are all pending is not skipped for the hour.
  await sql`create or replace function worker_api.app_priv_audit_chains_to_checkpoint(p_key_id text,
      p_after uuid, p_limit integer)
    returns table (organization_id uuid)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the checkpoint scan'))}
      return query select o.organization_id from (
          select h.organization_id from public.audit_chain_heads h
            where h.seq > coalesce((select max(c.seq) from public.audit_checkpoints c
                                     where c.organization_id = h.organization_id and c.key_id = p_key_id), 0)
          union
          select distinct p.organization_id from public.audit_pending p) o
        where p_after is null or o.organization_id > p_after
        order by o.organization_id limit least(greatest(p_limit, 1), 1000);
    end $$`.execute(db);
  for (const fn of [
    'worker_api.app_priv_audit_orgs_pending(uuid, integer)',
    'worker_api.app_priv_audit_chains_to_checkpoint(text, uuid, integer)',
  ]) {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    await sql`grant execute on function ${sql.raw(fn)} to ${worker}`.execute(db);
  }
}
