import type pg from 'pg';
import { sql, type RawBuilder } from 'kysely';
import type { Logger } from 'pino';
import type { AuditEntry, AuditEventInput } from '../audit/chain.js';
import { draftAudit } from '../audit/draft.js';
import type { Principal } from './context.js';
import type { UserProof } from './privileged.js';

/**
 * The named privileged paths of GDPR export and retention (issue 12, migration 0027), beside the others of
 * privileged.ts. Each calls one SECURITY DEFINER function that checks its own contract in the database.
 */

/** Anything a raw query runs on: a Kysely handle or transaction of any database type. */
type Executor = Parameters<RawBuilder<unknown>['execute']>[0];

/** A row an account export reads across organizations, with where it came from. */
export interface AccountExportRow {
  organizationId: string;
  /** The audit event's seq (0 for memberships). */
  seq: string;
  data: Record<string, unknown>;
}

/**
 * The only cross-organization read of an account export: the memberships of the export's user (with each
 * organization's slug and name), or the audit events whose actor is that user, ordered by organization
 * (then seq), strictly after (`afterOrg`, `afterSeq`), at most 1,000. Contract (enforced by
 * `worker_api.app_priv_account_export_rows`): the WORKER role only, outside any tenant scope, and only
 * while that account export is `running`; the user is the export's, never a parameter.
 */
export async function accountExportRows(
  workerPool: pg.Pool,
  exportId: string,
  kind: 'memberships' | 'audit_events',
  after: { org: string; seq: string } | null,
  limit: number,
  log?: Logger,
): Promise<AccountExportRow[]> {
  log?.debug(
    { privileged_operation: 'account_export_rows', export_id: exportId, kind },
    'privileged operation',
  );
  const res = await workerPool.query<{ organization_id: string; seq: string; data: Record<string, unknown> }>(
    'select organization_id, seq, data from worker_api.app_priv_account_export_rows($1, $2, $3, $4, $5)',
    [exportId, kind, after?.org ?? null, after?.seq ?? null, limit],
  );
  return res.rows.map((r) => ({ organizationId: r.organization_id, seq: String(r.seq), data: r.data }));
}

/** What the retention purge deletes (`worker_api.app_retention_purge`'s kinds). */
export type RetentionPurgeKind =
  'sessions' | 'refresh_tokens' | 'email_tokens' | 'invitations' | 'idempotency_keys' | 'exports';

/**
 * Deletes at most `limit` (≤ 10,000) rows of `kind` past `cutoff`, in one short transaction of its own,
 * and returns how many went (for `exports`: archives whose expiry passed, marked `expired`). Contract: the
 * WORKER role only, outside any tenant scope, a cutoff not in the future.
 */
export async function retentionPurge(
  workerPool: pg.Pool,
  kind: RetentionPurgeKind,
  cutoff: Date,
  limit: number,
): Promise<number> {
  const res = await workerPool.query<{ n: number }>(
    'select worker_api.app_retention_purge($1, $2, $3) as n',
    [kind, cutoff, limit],
  );
  return res.rows[0]?.n ?? 0;
}

/** The system actor of the retention job's platform audit events. */
export const RETENTION_ACTOR: Principal = { kind: 'system', name: 'retention' };

/**
 * Appends a `retention.purged` event of the system actor `retention` to the platform chain. Contract
 * (`worker_api.app_retention_audit`): the WORKER role only, outside any tenant scope, that action and
 * actor only.
 */
export async function recordRetentionAudit(
  workerDb: Executor,
  requestId: string,
  event: AuditEventInput,
): Promise<AuditEntry> {
  const { entry, args } = draftAudit(null, RETENTION_ACTOR, requestId, event);
  const res = await sql<{ seq: string }>`select seq from worker_api.app_retention_audit(${args})`.execute(
    workerDb,
  );
  return { ...entry, seq: Number(res.rows[0]!.seq) };
}

/**
 * Appends `account.export_requested` (the export still queued) or `account.export_downloaded` (the export
 * ready) to the platform chain. Contract (`app_account_export_audit`, migration 0033): the runtime role,
 * outside any tenant scope; the caller names only the export, the action and the request id — the
 * function builds the whole entry (actor: the export's user; target: the export; id, time, seq, hash and
 * a download's size and SHA-256 its own; no ip or user agent), so no caller can choose chain content.
 */
export async function recordAccountExportAudit(
  db: Executor,
  exportId: string,
  action: 'account.export_requested' | 'account.export_downloaded',
  requestId: string,
): Promise<{ seq: number; id: string }> {
  const res = await sql<{ seq: string; id: string }>`select seq, id from app_account_export_audit(
    ${exportId}::uuid, ${action}, ${requestId})`.execute(db);
  const row = res.rows[0];
  if (!row) throw new Error('account export audit returned no row');
  return { seq: Number(row.seq), id: row.id };
}

/**
 * The organizations holding a SCIM directory record (`scim_users`) of the user being erased, whatever
 * their placement (pooled or their own schema of the control database), member or not: only their ids,
 * for erasure to delete each record in that organization's own scope. Contract (enforced by
 * `app_priv_erasure_directory_organizations`, migration 0067): outside any tenant scope, and only in an
 * erasure's context: `proof` of that user (the self path: the RAW session token or a live refresh-token
 * family, as for `userOrganizations`), or, without a proof, inside the platform scope of a platform
 * administrator's live session (`db` a `PlatformScope`: the platform path). Refused (throws) otherwise.
 */
export async function erasureDirectoryOrganizations(
  db: Executor,
  userId: string,
  proof: UserProof | null,
  log?: Logger,
): Promise<string[]> {
  log?.info(
    {
      privileged_operation: 'erasure_directory_organizations',
      user: userId,
      proof: proof?.kind ?? 'platform',
    },
    'privileged operation',
  );
  const token = proof?.kind === 'session' ? proof.token : null;
  const family = proof?.kind === 'refresh_family' ? proof.familyId : null;
  const res = await sql<{ organization_id: string }>`select organization_id
    from app_priv_erasure_directory_organizations(${token}, ${userId}::uuid, ${family}::uuid)`.execute(db);
  return res.rows.map((r) => r.organization_id);
}
