import { isTenantId, type TenantCtx } from '../../platform/tenancy/context.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type {
  AuditPublicKey,
  AuditSigner,
  AuditVerifier,
  CheckpointStatementV2,
} from '../../platform/audit/signing.js';
import type { ChainVerification } from '../../platform/audit/verify-chain.js';
import { openPersonalFields } from '../../platform/audit/personal-fields.js';
import type { UserKeyStore } from '../../platform/user-keys/user-keys.js';
import { uuidv7 } from '../../platform/ids.js';
import { sealPending, type UnsealedEvents } from '../../platform/audit/seal.js';
import { decodeCursor, toPage, type Page, pageLimit, isSeqKey } from '../../platform/pagination.js';
import * as repo from './audit.repository.js';
import { AuditError } from './audit.errors.js';
import { verifyOrganizationChain } from './audit-verification.js';
import type { AuditScanLimit, AuditVerifyLimit } from './audit-verify-limit.js';
import {
  CSV_HEADER,
  csvRow,
  jsonlLine,
  toCheckpointView,
  toEventView,
  type AuditEventView,
  type CheckpointView,
} from './audit-views.js';

export type { AuditEventView, CheckpointView } from './audit-views.js';
export type { AuditFilter } from './audit.repository.js';

export interface AuditService {
  /** Events newest first, filtered, cursor-paginated. */
  list(
    ctx: TenantCtx,
    filter: repo.AuditFilter,
    page?: { limit?: number; cursor?: string },
  ): Promise<Page<AuditEventView>>;
  /**
   * Every matching event oldest first, as JSON Lines (one export line per event) or CSV, in chunks.
   * Throws at the call (429 RATE_LIMITED) when the export limit refuses it.
   */
  export(ctx: TenantCtx, filter: repo.AuditFilter, format: 'jsonl' | 'csv'): AsyncGenerator<string>;
  /** Recomputes the chain, checks the head and every checkpoint signature; names the first broken seq. */
  verify(ctx: TenantCtx): Promise<ChainVerification & { organizationId: string; unsealed: UnsealedEvents }>;
  /** Signs a checkpoint of the current head now (returns the latest one if the head has not moved). */
  checkpoint(ctx: TenantCtx): Promise<{ checkpoint: CheckpointView; created: boolean }>;
  /** Checkpoints, oldest first, cursor-paginated. */
  listCheckpoints(ctx: TenantCtx, page?: { limit?: number; cursor?: string }): Promise<Page<CheckpointView>>;
  /** Signs a checkpoint for one organization whose head moved since its last one (periodic job). */
  checkpointOrganization(org: string): Promise<boolean>;
  /** The published checkpoint key, with the retired keys older checkpoints were signed with. */
  publicKey(): AuditPublicKey & { retired: AuditPublicKey[] };
}

const EXPORT_BATCH = 500;

/** The audit log's read side, verification and checkpoints. Writes happen in each module (`recordAudit`). */
export function createAuditService(deps: {
  withTenant: WithTenant;
  signer: AuditSigner;
  verifier: AuditVerifier;
  /** Rotated-out keys, still published (and known to `verifier`). */
  retiredKeys?: readonly AuditPublicKey[];
  /** Opens personal fields sealed under user keys (without it they are shown sealed). */
  userKeys?: UserKeyStore;
  /**
   * Counts each verification `verify` starts (not the callers that share one running) and may refuse it
   * (`createAuditVerifyLimit`); without it verifications are not limited.
   */
  verifyLimit?: AuditVerifyLimit;
  /**
   * Counts each export when it starts (before its first byte) and may refuse it
   * (`createAuditExportLimit`); without it exports are not limited.
   */
  exportLimit?: AuditScanLimit;
}): AuditService {
  const { withTenant, signer, verifier } = deps;
  const verifying = new Map<string, ReturnType<AuditService['verify']>>();

  async function* exportEvents(
    ctx: TenantCtx,
    filter: repo.AuditFilter,
    format: 'jsonl' | 'csv',
  ): AsyncGenerator<string> {
    await sealPending(withTenant, ctx.tenantId);
    if (format === 'csv') yield CSV_HEADER;
    let cursor: number | undefined;
    for (;;) {
      const { rows, opened } = await withTenant(
        ctx.tenantId,
        async (db) => {
          const rows = await repo.listEvents(db, ctx.tenantId, filter, {
            cursor,
            limit: EXPORT_BATCH,
            order: 'asc',
          });
          return { rows, opened: await openPersonalFields(deps.userKeys, db, rows) };
        },
        { mode: 'read' },
      );
      if (rows.length > 0) {
        yield rows
          .map((r, i) => (format === 'csv' ? csvRow(r, opened[i]) : jsonlLine(r, opened[i])))
          .join('');
      }
      if (rows.length < EXPORT_BATCH) return;
      cursor = Number(rows[rows.length - 1]!.seq);
    }
  }

  async function sign(org: string): Promise<{ checkpoint: CheckpointView; created: boolean } | null> {
    // A checkpoint covers what was recorded before it: seal that first.
    await sealPending(withTenant, org);
    return withTenant(org, async (db) => {
      const head = await repo.chainHead(db, org);
      if (!head) return null;
      // The audit retention in force now (days; null: forever): stated in the signed statement, it bounds
      // where verification accepts a retention purge's cut (verify-chain.ts).
      const retentionDays = await repo.retentionInForce(db, org);
      const latest = await repo.latestCheckpoint(db, org, signer.keyId);
      if (
        latest &&
        Number(latest.seq) === head.seq &&
        latest.statement_v === 2 &&
        latest.retention_days === retentionDays
      ) {
        return { checkpoint: toCheckpointView(latest), created: false };
      }
      const statement: CheckpointStatementV2 = {
        v: 2,
        organization_id: org,
        seq: head.seq,
        head_hash: head.hash.toString('hex'),
        signed_at: new Date().toISOString(),
        key_id: signer.keyId,
        retention_days: retentionDays,
      };
      const row = {
        organization_id: org,
        id: uuidv7(),
        seq: String(head.seq),
        head_hash: head.hash,
        signed_at: new Date(statement.signed_at),
        key_id: signer.keyId,
        signature: signer.sign(statement),
        statement_v: 2,
        retention_days: retentionDays,
      };
      await repo.insertCheckpoint(db, row);
      return { checkpoint: toCheckpointView(row), created: true };
    });
  }

  return {
    async list(ctx, filter, page) {
      const limit = pageLimit(page?.limit);
      const cursor = decodeCursor(page?.cursor, isSeqKey);
      // The first page shows what was recorded before it was asked for; later pages follow its seqs.
      if (cursor === undefined) await sealPending(withTenant, ctx.tenantId);
      const { rows, opened } = await withTenant(
        ctx.tenantId,
        async (db) => {
          const rows = await repo.listEvents(db, ctx.tenantId, filter, {
            cursor: cursor === undefined ? undefined : Number(cursor),
            limit: limit + 1,
            order: 'desc',
          });
          return { rows, opened: await openPersonalFields(deps.userKeys, db, rows) };
        },
        { mode: 'read' },
      );
      const view = new Map(rows.map((r, i) => [r, toEventView(r, opened[i])]));
      return toPage(
        rows,
        limit,
        (r) => String(r.seq),
        (r) => view.get(r)!,
      );
    },

    // Not a generator itself: the rate limit refuses at the call, before the route starts the response.
    export(ctx, filter, format) {
      deps.exportLimit?.(ctx.tenantId);
      return exportEvents(ctx, filter, format);
    },

    // One verification per organization at a time in this process: callers arriving while one runs get
    // its result (it reads the whole chain, twice when it finds a break), so repeated calls cannot pile up
    // full scans. A call after it settled starts a new one, if the rate limit (`verifyLimit`) allows it.
    verify(ctx) {
      const org = ctx.tenantId;
      let run = verifying.get(org);
      if (!run) {
        const start = async () => {
          deps.verifyLimit?.(org);
          return verifyOrganizationChain(withTenant, verifier, org);
        };
        run = start().finally(() => verifying.delete(org));
        verifying.set(org, run);
      }
      return run;
    },

    async checkpoint(ctx) {
      const result = await sign(ctx.tenantId);
      if (!result) throw new AuditError('AUDIT_CHAIN_EMPTY', 'the audit log has no events to checkpoint yet');
      return result;
    },

    async listCheckpoints(ctx, page) {
      const limit = pageLimit(page?.limit);
      const after = decodeCursor(page?.cursor, isTenantId);
      const rows = await withTenant(
        ctx.tenantId,
        (db) => repo.pageCheckpoints(db, ctx.tenantId, after, limit + 1),
        { mode: 'read' },
      );
      return toPage(rows, limit, (r) => r.id, toCheckpointView);
    },

    async checkpointOrganization(org) {
      const result = await sign(org);
      return result?.created ?? false;
    },

    publicKey: () => ({ ...signer.publicKey, retired: [...(deps.retiredKeys ?? [])] }),
  };
}
