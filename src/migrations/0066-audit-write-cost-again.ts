import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * Issue 10 again, the PostgreSQL cost of an audited write's event (docs/performance.md, "Audited write,
 * third pass"): two per-event costs that protected nothing the rest of the design does not already
 * guarantee.
 *
 * 1. `app_audit_pending_admit` (migration 0016) had `set search_path = pg_catalog, public`: a function with
 *    a SET clause saves, sets and restores the setting on every call (a GUC nesting level per event row).
 *    It now has none and names everything it uses by schema (operators included: `OPERATOR(pg_catalog.>)`),
 *    so the caller's search path changes nothing in it. Still SECURITY DEFINER, owned by the table's
 *    owner, EXECUTE granted to nobody: the runtime role needs no right on the sequence and cannot choose
 *    (or burn) a `pending_id`. Conditions, SQLSTATE and messages unchanged.
 * 2. `audit_pending`'s foreign key to organizations ran PostgreSQL's referential check on every event (a
 *    query and a `FOR KEY SHARE` lock of the organization's row, a MultiXact when writers of one
 *    organization overlap). A pending row lives seconds, until its organization's chain takes it. What the
 *    key's cascade did is done explicitly: the organization purge deletes every tenant table's rows,
 *    `audit_pending` in every schema included (migration 0026, the guard lets the definer through), before
 *    it deletes the organization; placement moves and discards always deleted pending rows themselves.
 *    The chain itself (`audit_events`, `audit_chain_heads`) keeps its keys: a row the sealer moves is
 *    checked there, once per sealed batch row, off the write's path. What the key did that nothing else
 *    does: a transaction recording an event (and writing nothing else that references the organization)
 *    while the purge's last batch deletes the organization could commit its event after it, left in
 *    `audit_pending` (the sealer cannot chain it: `audit_events` keeps its key). The seal sweep (every
 *    5 s where the background jobs run) now deletes the pending rows of organizations that no longer
 *    exist, as the definer role, and it and the checkpoint scan list only organizations that exist.
 * Placement schemas follow both: the trigger calls this one function, and the schema synchronization
 * drops the key public no longer has.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await sql`create or replace function app_audit_pending_admit() returns trigger language plpgsql
    security definer as $$
    declare v_bad text;
    begin
      v_bad := case
        when not (new.actor_type operator(pg_catalog.=) any
            ('{user,api_key,system,anonymous}'::pg_catalog.text[])) then 'actor_type'
        when pg_catalog.octet_length(new.actor_id) operator(pg_catalog.>) 512 then 'actor_id'
        when not (new.action operator(pg_catalog.~) '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$')
            or pg_catalog.octet_length(new.action) operator(pg_catalog.>) 256 then 'action'
        when pg_catalog.octet_length(new.target_type) operator(pg_catalog.>) 512 then 'target_type'
        when pg_catalog.octet_length(new.target_id) operator(pg_catalog.>) 1024 then 'target_id'
        when pg_catalog.octet_length(new.ip) operator(pg_catalog.>) 512 then 'ip'
        when pg_catalog.octet_length(new.user_agent) operator(pg_catalog.>) 2048 then 'user_agent'
        when pg_catalog.octet_length(new.request_id) operator(pg_catalog.>) 1024 then 'request_id'
        when pg_catalog.octet_length(new.changes::pg_catalog.text) operator(pg_catalog.>) 1048576
          then 'changes'
        when pg_catalog.octet_length(new.metadata::pg_catalog.text) operator(pg_catalog.>) 1048576
          then 'metadata'
        when pg_catalog.octet_length(new.prefix) operator(pg_catalog.+) pg_catalog.octet_length(new.suffix)
            operator(pg_catalog.>) 262144 then 'prefix, suffix'
      end;
      if v_bad is not null then
        raise exception 'audit_pending row refused by the check of %', v_bad using errcode = 'check_violation';
      end if;
      new.pending_id := pg_catalog.nextval('public.audit_pending_pending_id_seq'::pg_catalog.regclass);
      return new;
    end $$`.execute(db);
  await sql`revoke all on function app_audit_pending_admit() from public`.execute(db);
  await sql`alter table audit_pending drop constraint audit_pending_organization_id_fkey`.execute(db);

  // The seal sweep's listing deletes, on its first page, the pending rows of organizations that no longer
  // exist (what the key's cascade did, within a sweep's interval), and lists, like the checkpoint scan, only
  // organizations that exist; it becomes VOLATILE for its delete. Both as 0046 amended them: owner, grants,
  // settings and bodies otherwise unchanged; a mismatch fails the migration.
  const pending = 'select distinct p.organization_id from audit_pending p';
  const existing = `${pending}
          where exists (select 1 from public.organizations o where o.id = p.organization_id)`;
  const rewrite = async (fn: string, changes: readonly (readonly [string, string])[]) => {
    const res = await sql<{ def: string }>`select pg_get_functiondef(${fn}::regprocedure) as def`.execute(db);
    let def = res.rows[0]?.def ?? '';
    for (const [from, to] of changes) {
      if (def.split(from).length !== 2)
        throw new Error(`0066: ${fn} is not the function this migration amends`);
      def = def.replace(from, () => to); // a function: no `$` pattern in `to` is expanded
    }
    await sql.raw(def).execute(db);
  };
  await rewrite('worker_api.app_priv_audit_orgs_pending(uuid, integer)', [
    [' STABLE SECURITY DEFINER', ' VOLATILE SECURITY DEFINER'],
    [
      `        v_ids := v_ids || array(${pending}
          where p_after is null or p.organization_id > p_after`,
      `        if p_after is null then
          delete from audit_pending p
            where not exists (select 1 from public.organizations o where o.id = p.organization_id);
        end if;
        v_ids := v_ids || array(${existing}
            and (p_after is null or p.organization_id > p_after)`,
    ],
  ]);
  await rewrite('worker_api.app_priv_audit_chains_to_checkpoint(text, uuid, integer)', [
    [`${pending})`, `${existing})`],
  ]);
}
