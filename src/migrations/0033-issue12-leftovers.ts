import { sql, type Kysely } from 'kysely';
import { createTenantTable, type MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

const ROLE = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Issue 12, review findings left open (docs/gdpr.md, docs/webhooks.md, docs/encryption.md).
 *
 * - `app_account_export_audit(export_id, action, request_id)` replaces the 0027 function of the same name,
 *   which took the entry's canonical text and every field from its caller (so the runtime role could
 *   append a platform-chain event of its own making under the hash it chose). The function now builds the
 *   entry itself from fixed fields: the actor is the export's user, the target the export, the id, time,
 *   seq and hash its own, the metadata of a download the export's size and SHA-256; ip and user agent are
 *   not recorded (they would be a user's personal data in plaintext on the platform chain). The caller
 *   supplies only the export id, one of two actions and a request id of the request-id alphabet.
 * - `tenant_key_unreadable_values` (tenant): the sealed values an organization's key rotation found it
 *   could not open under the key version they name (table, column, row, version — null when malformed — and
 *   the SHA-256 of the stored text, so a value written since is not skipped; never the value). The
 *   rotation skips them instead of retrying them forever; GET /v1/organization/keys lists them.
 * - `webhook_endpoints.previous_secret` / `previous_secret_expires_at`: the secret a rotation replaced
 *   (sealed, binding `webhook_endpoints.previous_secret`), which keeps signing beside the new one until
 *   then (WEBHOOK_SECRET_OVERLAP_HOURS), so receivers switch secrets without rejecting deliveries.
 * - `worker_api.app_priv_webhook_stuck_deliveries(before, limit)`: the webhook deliveries, of every
 *   organization, still `pending` although their next attempt was due before `before` (at least a minute
 *   ago): ids only, for the sweep that re-queues a delivery whose job was lost. Worker role only, outside
 *   any tenant scope.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);
  for (const r of [ctx.roles.runtime, ctx.roles.definer, ctx.roles.worker]) {
    if (!ROLE.test(r)) throw new Error(`invalid role name: ${r}`);
  }

  await sql`drop function app_account_export_audit(text, text, uuid, timestamptz, text, text, text, text,
    text, text, text, text, jsonb, jsonb)`.execute(db);
  await sql`create function app_account_export_audit(p_export_id uuid, p_action text, p_request_id text)
    returns table (seq bigint, hash bytea, id uuid, occurred_at timestamptz)
    language plpgsql security definer set search_path = pg_catalog, public as $$
    declare
      v_user uuid; v_status text; v_size bigint; v_sha text;
      v_id uuid := gen_random_uuid();
      v_at timestamptz := date_trunc('milliseconds', clock_timestamp());
      v_meta jsonb; v_meta_text text; v_prefix text; v_suffix text;
      v_seq bigint; v_prev bytea; v_hash bytea;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the account export audit'))}
      if p_action is null or p_action not in ('account.export_requested', 'account.export_downloaded')
         or p_request_id is null or p_request_id !~ '^[A-Za-z0-9._:-]{8,128}$' then
        raise exception 'the account export audit is refused for anything but account.export_requested or account.export_downloaded with a valid request id'
          using errcode = 'insufficient_privilege';
      end if;
      select e.user_id, e.status, e.size_bytes, e.archive_sha256 into v_user, v_status, v_size, v_sha
        from public.account_exports e where e.id = p_export_id;
      if v_user is null
         or (p_action = 'account.export_requested' and v_status is distinct from 'queued')
         or (p_action = 'account.export_downloaded'
             and (v_status is distinct from 'ready' or v_size is null or v_sha is null)) then
        raise exception 'the account export audit needs an account export in the state its action says'
          using errcode = 'insufficient_privilege';
      end if;
      if p_action = 'account.export_downloaded' then
        -- canonical JSON (sorted keys; a hex digest and an integer need no escaping)
        v_meta_text := '{"sha256":"' || v_sha || '","size_bytes":' || v_size::text || '}';
        v_meta := v_meta_text::jsonb;
      end if;
      -- The entry's canonical JSON around its seq (src/platform/audit/draft.ts canonicalAroundSeq): every
      -- string here is a uuid, a fixed action or a request id of [A-Za-z0-9._:-], so none needs escaping.
      v_prefix := '{"action":"' || p_action || '","actor":{"id":"' || v_user::text
        || '","type":"user"},"changes":null,"id":"' || v_id::text || '","ip":null,"metadata":'
        || coalesce(v_meta_text, 'null') || ',"occurred_at":"'
        || to_char(v_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        || '","organization_id":null,"request_id":"' || p_request_id || '","seq":';
      v_suffix := ',"target":{"id":"' || p_export_id::text
        || '","type":"account_export"},"user_agent":null,"v":1}';

      select h.seq, h.hash into v_seq, v_prev from public.platform_audit_head h where h.singleton for update;
      if not found then
        insert into public.platform_audit_head (singleton, seq, hash)
          values (true, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
          on conflict (singleton) do nothing;
        select h.seq, h.hash into v_seq, v_prev from public.platform_audit_head h where h.singleton for update;
      end if;
      v_seq := v_seq + 1;
      v_hash := sha256(v_prev || convert_to(v_prefix || v_seq::text || v_suffix, 'UTF8'));
      insert into public.platform_audit_events (seq, id, occurred_at, actor_type, actor_id, action,
          target_type, target_id, ip, user_agent, request_id, changes, metadata, prev_hash, hash)
        values (v_seq, v_id, v_at, 'user', v_user::text, p_action, 'account_export', p_export_id::text,
          null, null, p_request_id, null, v_meta, v_prev, v_hash);
      update public.platform_audit_head h set seq = v_seq, hash = v_hash, updated_at = now()
        where h.singleton;
      return query select v_seq, v_hash, v_id, v_at;
    end $$`.execute(db);
  await createTenantTable(db, ctx, {
    name: 'tenant_key_unreadable_values',
    columns: `table_name text not null check (table_name ~ '^[a-z_][a-z0-9_]{0,62}$'),
      column_name text not null check (column_name ~ '^[a-z_][a-z0-9_]{0,62}$'),
      row_id text not null check (char_length(row_id) between 1 and 200),
      key_version integer check (key_version >= 1),
      value_digest bytea not null check (octet_length(value_digest) = 32),
      first_seen_at timestamptz not null default now(),
      last_seen_at timestamptz not null default now()`,
    primaryKey: ['table_name', 'column_name', 'row_id'],
  });

  await sql`alter table webhook_endpoints
    add column previous_secret text check (char_length(previous_secret) between 1 and 2000),
    add column previous_secret_expires_at timestamptz,
    add constraint webhook_endpoints_previous_secret_expiry
      check ((previous_secret is null) = (previous_secret_expires_at is null))`.execute(db);

  await sql`create function worker_api.app_priv_webhook_stuck_deliveries(p_before timestamptz, p_limit integer)
    returns table (organization_id uuid, id uuid)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the stuck webhook delivery scan'))}
      if p_before is null or p_before > now() - interval '1 minute' then
        raise exception 'the stuck webhook delivery scan looks only at attempts due a minute ago or earlier'
          using errcode = 'invalid_parameter_value';
      end if;
      return query select d.organization_id, d.id from public.webhook_deliveries d
        where d.status = 'pending' and d.next_attempt_at < p_before
        order by d.next_attempt_at limit least(greatest(coalesce(p_limit, 100), 1), 1000);
    end $$`.execute(db);
  const stuck = 'worker_api.app_priv_webhook_stuck_deliveries(timestamptz, integer)';
  await sql`alter function ${sql.raw(stuck)} owner to ${definer}`.execute(db);
  await sql`revoke all on function ${sql.raw(stuck)} from public`.execute(db);
  await sql`grant execute on function ${sql.raw(stuck)} to ${sql.id(ctx.roles.worker)}`.execute(db);

  const audit = 'app_account_export_audit(uuid, text, text)';
  await sql`alter function ${sql.raw(audit)} owner to ${definer}`.execute(db);
  await sql`revoke all on function ${sql.raw(audit)} from public`.execute(db);
  await sql`grant execute on function ${sql.raw(audit)} to ${runtime}`.execute(db);
}
