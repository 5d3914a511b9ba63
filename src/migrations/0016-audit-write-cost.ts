import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

/** The CHECK constraints migration 0015 put on `audit_pending`; 0016 moves them into its insert trigger. */
const PENDING_CHECKS = [
  'audit_pending_actor_type_check',
  'audit_pending_actor_id_check',
  'audit_pending_action_check',
  'audit_pending_target_type_check',
  'audit_pending_target_id_check',
  'audit_pending_ip_check',
  'audit_pending_user_agent_check',
  'audit_pending_request_id_check',
  'audit_pending_changes_check',
  'audit_pending_metadata_check',
  'audit_pending_check',
];

/**
 * Issue 10, the cost of an audited write. PostgreSQL prepares a table's CHECK constraints (reads each
 * expression back from its stored form and plans it) once per statement execution, and every audit event
 * is its own single-row INSERT: the eleven checks of `audit_pending` cost about 50 µs of PostgreSQL CPU per
 * event, more than the insert itself. The same conditions, unchanged, now run in the insert trigger that
 * already assigned `pending_id`: PL/pgSQL keeps its expressions planned for the life of the connection,
 * so the whole trigger costs a few µs. A row that fails one is refused with the same SQLSTATE
 * (23514, check_violation), naming the column.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  // Same contract as app_audit_pending_id (migration 0015): SECURITY DEFINER, owned by the table's owner,
  // EXECUTE granted to nobody (a trigger needs none), so the runtime role needs no right on the sequence
  // and cannot choose `pending_id`.
  await sql`create function app_audit_pending_admit() returns trigger language plpgsql security definer
    set search_path = pg_catalog, public as $$
    declare v_bad text;
    begin
      v_bad := case
        when new.actor_type not in ('user', 'api_key', 'system', 'anonymous') then 'actor_type'
        when octet_length(new.actor_id) > 512 then 'actor_id'
        when not (new.action ~ '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$') or octet_length(new.action) > 256
          then 'action'
        when octet_length(new.target_type) > 512 then 'target_type'
        when octet_length(new.target_id) > 1024 then 'target_id'
        when octet_length(new.ip) > 512 then 'ip'
        when octet_length(new.user_agent) > 2048 then 'user_agent'
        when octet_length(new.request_id) > 1024 then 'request_id'
        when octet_length(new.changes::text) > 1048576 then 'changes'
        when octet_length(new.metadata::text) > 1048576 then 'metadata'
        when octet_length(new.prefix) + octet_length(new.suffix) > 262144 then 'prefix, suffix'
      end;
      if v_bad is not null then
        raise exception 'audit_pending row refused by the check of %', v_bad using errcode = 'check_violation';
      end if;
      new.pending_id := nextval('public.audit_pending_pending_id_seq'::regclass);
      return new;
    end $$`.execute(db);
  await sql`revoke all on function app_audit_pending_admit() from public`.execute(db);
  await sql`create trigger audit_pending_admit before insert on audit_pending
    for each row execute function app_audit_pending_admit()`.execute(db);
  await sql`drop trigger audit_pending_id on audit_pending`.execute(db);
  await sql`drop function app_audit_pending_id()`.execute(db);
  for (const name of PENDING_CHECKS) {
    await sql`alter table audit_pending drop constraint ${sql.id(name)}`.execute(db);
  }
}
