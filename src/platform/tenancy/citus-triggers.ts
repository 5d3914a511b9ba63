/**
 * What `npx saasready citus distribute` does with each trigger of a table it distributes or replicates
 * (docs/citus.md, "Triggers"): Citus refuses `create_distributed_table` on a table with triggers (unless
 * `citus.enable_unsafe_triggers`, which runs them on the shards, where a trigger reading another table or
 * the coordinator's state is wrong) and a reference table takes none. Coordinator-local tables keep theirs.
 *
 * Each trigger of a tenant table is either a GUARD (it only refuses changes the runtime role cannot make
 * anyway: its privileges on the table are SELECT and, for some, INSERT; see runtime-grants.ts) or it has
 * BEHAVIOUR that must live somewhere else on Citus. On plain PostgreSQL every trigger stays: the guards
 * also bind the definer role's functions (defence in depth), which Citus gives up for the chain and the
 * signed checkpoints, which detect any rewrite of the audit log (`npx saasready audit verify`).
 *
 * A trigger not listed here on a table to distribute stops the plan: its fate must be decided.
 */

export interface CitusTriggerDecision {
  readonly table: string;
  readonly trigger: string;
  /** `drop`: a guard, replaced by privileges; `replace`: behaviour moved into `statements`; `blocked`:
   *  behaviour not yet moved (the command refuses to run while it remains). */
  readonly action: 'drop' | 'replace' | 'blocked';
  readonly why: string;
  /** Run (after the trigger is dropped) for `replace`. */
  readonly statements?: (roles: { runtime: string }) => readonly string[];
}

const GUARD_BY_PRIVILEGES =
  'guard only: the runtime role holds no UPDATE, DELETE or TRUNCATE on the table (runtime-grants.ts), ' +
  'and the hash chain with its signed checkpoints detects any rewrite by another role';

/** The conditions app_audit_pending_admit checks (migration 0016), as the CHECK constraints they were in
 *  0015: Citus plans a distributed table's CHECK constraints on the shard, so they need no trigger. */
const PENDING_CHECKS = `alter table public.audit_pending
  add constraint audit_pending_admit_check check (
    actor_type in ('user', 'api_key', 'system', 'anonymous')
    and coalesce(octet_length(actor_id), 0) <= 512
    and action ~ '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$' and octet_length(action) <= 256
    and octet_length(target_type) <= 512
    and coalesce(octet_length(target_id), 0) <= 1024
    and coalesce(octet_length(ip), 0) <= 512
    and coalesce(octet_length(user_agent), 0) <= 2048
    and coalesce(octet_length(request_id), 0) <= 1024
    and coalesce(octet_length(changes::text), 0) <= 1048576
    and coalesce(octet_length(metadata::text), 0) <= 1048576
    and octet_length(prefix) + octet_length(suffix) <= 262144)`;

const quoteIdent = (s: string) => `"${s.replaceAll('"', '""')}"`;

export const CITUS_TRIGGERS: readonly CitusTriggerDecision[] = [
  { table: 'audit_events', trigger: 'audit_events_append_only', action: 'drop', why: GUARD_BY_PRIVILEGES },
  { table: 'audit_events', trigger: 'audit_events_no_truncate', action: 'drop', why: GUARD_BY_PRIVILEGES },
  {
    table: 'audit_checkpoints',
    trigger: 'audit_checkpoints_append_only',
    action: 'drop',
    why: GUARD_BY_PRIVILEGES + ' (the runtime role may only INSERT a checkpoint, which the signature covers)',
  },
  {
    table: 'audit_checkpoints',
    trigger: 'audit_checkpoints_no_truncate',
    action: 'drop',
    why: GUARD_BY_PRIVILEGES,
  },
  {
    table: 'audit_pending',
    trigger: 'audit_pending_sealed_only',
    action: 'drop',
    why: GUARD_BY_PRIVILEGES + ' (INSERT and SELECT only: pending events leave only by app_audit_seal)',
  },
  { table: 'audit_pending', trigger: 'audit_pending_no_truncate', action: 'drop', why: GUARD_BY_PRIVILEGES },
  {
    table: 'audit_pending',
    trigger: 'audit_pending_admit',
    action: 'replace',
    why:
      'behaviour (checks each row, assigns pending_id from its sequence): on Citus the checks are a CHECK ' +
      'constraint and pending_id the column default, which the runtime role cannot override (INSERT on every ' +
      'column but pending_id; USAGE on the sequence lets it burn ids, not choose one)',
    statements: ({ runtime }) => [
      PENDING_CHECKS,
      `alter table public.audit_pending alter column pending_id
  set default nextval('public.audit_pending_pending_id_seq'::regclass)`,
      `revoke insert on public.audit_pending from ${quoteIdent(runtime)}`,
      `grant insert (${PENDING_INSERT_COLUMNS.join(', ')}) on public.audit_pending to ${quoteIdent(runtime)}`,
      `grant usage on sequence public.audit_pending_pending_id_seq to ${quoteIdent(runtime)}`,
    ],
  },
  {
    table: 'invoices',
    trigger: 'invoices_immutable',
    action: 'drop',
    why:
      'guard only: the runtime role holds no UPDATE or DELETE on invoices (drafts are inserted, finalized ' +
      'and voided by the definer functions, which keep their own status checks)',
  },
];

/** The columns the runtime role may INSERT into audit_pending on Citus: all but pending_id. */
const PENDING_INSERT_COLUMNS = [
  'organization_id',
  'id',
  'occurred_at',
  'prefix',
  'suffix',
  'actor_type',
  'actor_id',
  'action',
  'target_type',
  'target_id',
  'ip',
  'user_agent',
  'request_id',
  'changes',
  'metadata',
];

/** The runtime role's grants (runtime-grants.ts) as they are once the distribution replaced
 *  audit_pending_admit: INSERT on every column but pending_id, USAGE on its sequence. */
export function citusRuntimeGrants(grants: readonly string[]): string[] {
  return grants.flatMap((g) =>
    g === 'table audit_pending: INSERT, SELECT'
      ? [
          'table audit_pending: SELECT',
          ...PENDING_INSERT_COLUMNS.map((c) => `column audit_pending.${c}: INSERT`),
          'sequence audit_pending_pending_id_seq: USAGE',
        ]
      : [g],
  );
}

export interface TableTrigger {
  readonly table: string;
  readonly trigger: string;
}

/** The decision for each trigger found on a table Citus will distribute or replicate; throws on one not
 *  decided above (a new trigger on a tenant table must be listed, with why). */
export function triggerDecisions(found: readonly TableTrigger[]): CitusTriggerDecision[] {
  const undecided = found.filter(
    (f) => !CITUS_TRIGGERS.some((d) => d.table === f.table && d.trigger === f.trigger),
  );
  if (undecided.length > 0) {
    throw new Error(
      `citus: triggers on distributed or reference tables with no decision in citus-triggers.ts: ${undecided
        .map((u) => `${u.trigger} on ${u.table}`)
        .join(', ')}`,
    );
  }
  return CITUS_TRIGGERS.filter((d) => found.some((f) => f.table === d.table && f.trigger === d.trigger));
}
