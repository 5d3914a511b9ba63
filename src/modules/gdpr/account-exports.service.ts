import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { uuidv7 } from '../../platform/ids.js';
import { enqueueJob } from '../../platform/jobs/enqueue.js';
import type { JobHandler } from '../../platform/jobs/worker.js';
import { decodeCursor, pageLimit, toPage } from '../../platform/pagination.js';
import { isTenantId, type Principal } from '../../platform/tenancy/context.js';
import {
  recordAccountExportAudit,
  type AccountExportRow as CrossOrgRow,
} from '../../platform/tenancy/privileged-gdpr.js';
import {
  ArchiveTooLargeError,
  chunksOf,
  createArchiveBuilder,
  jsonLine,
  storedChunks,
  type ArchiveDownload,
} from './archive.js';
import { downloadLink, type ExportLinkDeps } from './export-link.js';
import {
  ACCOUNT_EXPORT_TASK,
  EXPORT_MAX_ATTEMPTS,
  EXPORT_PAGE_ROWS,
  toExportView,
  type ExportRequests,
} from './export-view.js';
import { exportNotFound, GdprError } from './gdpr.errors.js';
import * as repo from './account-exports.repository.js';

/** Who asks, on a `user` route: the verified principal and the request id (audit). */
export interface AccountActor {
  readonly userId: string;
  readonly principal: Principal;
  readonly requestId: string;
}

/**
 * A user's exports: `create` exports everything about the user: profile, sessions, refresh tokens,
 * passkeys, linked social accounts, memberships and the audit events they are the actor of, across
 * organizations. Audited in the platform chain (`account.export_requested`).
 */
export interface AccountExportsService extends ExportRequests<AccountActor> {
  /** The archive of the user's own ready export. Audited in the platform chain (`account.export_downloaded`). */
  download(who: AccountActor, exportId: string): Promise<ArchiveDownload>;
}

export interface AccountExportsDeps extends ExportLinkDeps {
  db: repo.AccountDb;
}

/** A user's exports of their own data. */
export function createAccountExportsService(deps: AccountExportsDeps): AccountExportsService {
  const { db } = deps;
  return {
    async create(who, opts) {
      const key = opts?.idempotencyKey ?? null;
      const hash = key === null ? null : createHash('sha256').update('account-export').digest('hex');
      if (key !== null) {
        const prior = await repo.findByIdempotencyKey(db, who.userId, key);
        if (prior) return { export: toExportView(prior), replayed: true };
      }
      return db.transaction().execute(async (trx) => {
        await repo.failAbandoned(trx, who.userId);
        const row = await repo.insertExport(trx, {
          id: uuidv7(),
          user_id: who.userId,
          idempotency_key: key,
          request_hash: hash,
        });
        if (!row) {
          // A concurrent retry with the same key won the insert: answer its export.
          const prior = key === null ? null : await repo.findByIdempotencyKey(trx, who.userId, key);
          if (prior) return { export: toExportView(prior), replayed: true };
          const active = await repo.findActiveExport(trx, who.userId);
          throw new GdprError('EXPORT_ALREADY_RUNNING', 'an export of your account is already running', {
            exportId: active?.id ?? null,
          });
        }
        await enqueueJob(
          trx,
          ACCOUNT_EXPORT_TASK,
          { tenantId: null, payload: { exportId: row.id } },
          { jobKey: `gdpr-account-export:${row.id}`, maxAttempts: EXPORT_MAX_ATTEMPTS },
        );
        await recordAccountExportAudit(trx, row.id, 'account.export_requested', who.requestId);
        return { export: toExportView(row), replayed: false };
      });
    },

    async list(who, opts) {
      const limit = pageLimit(opts?.limit);
      const before = decodeCursor(opts?.cursor, isTenantId);
      const rows = await repo.listExports(db, who.userId, { before, limit: limit + 1 });
      return toPage(rows, limit, (r) => r.id, toExportView);
    },

    async get(who, id) {
      if (!isTenantId(id)) throw exportNotFound();
      const row = await repo.findExport(db, who.userId, id);
      if (!row) throw exportNotFound();
      const view = toExportView(row);
      if (view.status === 'ready') {
        view.download = downloadLink(deps, {
          kind: 'account',
          exportId: row.id,
          org: null,
          user: who.userId,
        });
      }
      return view;
    },

    async download(who, exportId) {
      const row = await repo.findExport(db, who.userId, exportId);
      if (!row || toExportView(row).status !== 'ready') throw exportNotFound();
      const count = await repo.chunkCount(db, exportId);
      await recordAccountExportAudit(db, exportId, 'account.export_downloaded', who.requestId);
      const chunks = storedChunks(count, (seq) => repo.archiveChunk(db, exportId, seq));
      return { filename: `account-export-${exportId}.zip`, size: Number(row.size_bytes), chunks };
    },
  };
}

export interface AccountExportJobDeps {
  db: repo.AccountDb;
  /** The cross-organization read (`accountExportRows` on the worker pool). */
  crossOrgRows: (
    exportId: string,
    kind: 'memberships' | 'audit_events',
    after: { org: string; seq: string } | null,
    limit: number,
  ) => Promise<CrossOrgRow[]>;
  maxArchiveBytes: number;
  archiveRetentionHours: number;
  log: Logger;
}

/**
 * Builds one account export: `profile.jsonl`, `sessions.jsonl`, `refresh_tokens.jsonl`, `passkeys.jsonl`,
 * `social_identities.jsonl` (global tables, credentials and token hashes left out), then `memberships.jsonl` and `audit_events.jsonl` across
 * organizations through the one privileged read of account exports, and `manifest.json`.
 */
export async function runAccountExport(
  deps: AccountExportJobDeps,
  exportId: string,
  attempt: number,
): Promise<void> {
  const { db } = deps;
  if (!(await repo.markRunning(db, exportId))) return;
  try {
    const row = await repo.findExportById(db, exportId);
    if (!row) return;
    const userId = row.user_id;
    const builder = createArchiveBuilder(deps.maxArchiveBytes);
    const TOTAL = 7;
    let rows = 0;
    let done = 0;
    await repo.setProgress(db, exportId, { tables_total: TOTAL, tables_done: 0, rows_exported: 0 });
    /** Turns rows into lines, counting them against the size limit as they come. */
    const toLines = (items: readonly unknown[], into: string[] = []) => {
      for (const item of items) {
        const line = jsonLine(item);
        builder.reserve(Buffer.byteLength(line));
        into.push(line);
      }
      return into;
    };
    const add = async (name: string, source: string, lines: string[]) => {
      builder.addFile(name, source, lines);
      rows += lines.length;
      done += 1;
      await repo.setProgress(db, exportId, { tables_done: done, rows_exported: rows });
    };
    const profile = await repo.profileOf(db, userId);
    await add('profile.jsonl', 'users', toLines(profile ? [profile] : []));
    await add('sessions.jsonl', 'sessions', toLines(await repo.sessionsOf(db, userId)));
    await add('refresh_tokens.jsonl', 'refresh_tokens', toLines(await repo.refreshTokensOf(db, userId)));
    await add('passkeys.jsonl', 'passkey_credentials', toLines(await repo.passkeysOf(db, userId)));
    await add(
      'social_identities.jsonl',
      'social_identities',
      toLines(await repo.socialIdentitiesOf(db, userId)),
    );
    for (const kind of ['memberships', 'audit_events'] as const) {
      const lines: string[] = [];
      let after: { org: string; seq: string } | null = null;
      for (;;) {
        const page = await deps.crossOrgRows(exportId, kind, after, EXPORT_PAGE_ROWS);
        toLines(
          page.map((r) => r.data),
          lines,
        );
        if (page.length < EXPORT_PAGE_ROWS) break;
        const last = page[page.length - 1]!;
        after = { org: last.organizationId, seq: last.seq };
      }
      await add(`${kind}.jsonl`, kind, lines);
    }
    const { zip } = await builder.finish({
      kind: 'account',
      exportId,
      userId,
      createdAt: row.created_at.toISOString(),
      notes: [
        'Credentials are not exported: the password hash, two-factor secrets and recovery codes, and the hashes of session and refresh tokens.',
        'passkeys.jsonl lists your passkeys with their public keys and credential ids (public by design: they let no one sign in); social_identities.jsonl the provider accounts linked to yours.',
        'memberships.jsonl and audit_events.jsonl cover every organization: memberships of any status, and the sealed audit events whose actor is you.',
      ],
    });
    await repo.storeArchive(db, exportId, chunksOf(zip), {
      size: zip.length,
      sha256: createHash('sha256').update(zip).digest('hex'),
      rows,
      tables: TOTAL,
      expiresAt: new Date(Date.now() + deps.archiveRetentionHours * 3_600_000),
    });
    deps.log.info(
      { component: 'gdpr', export_id: exportId, rows, size_bytes: zip.length },
      'account export ready',
    );
  } catch (err) {
    const final = err instanceof ArchiveTooLargeError || attempt >= EXPORT_MAX_ATTEMPTS;
    deps.log.error({ component: 'gdpr', export_id: exportId, err, final }, 'account export failed');
    if (!final) throw err;
    const message = err instanceof ArchiveTooLargeError ? err.message : 'the export failed; start a new one';
    await repo.markFailed(db, exportId, message);
  }
}

/** The job handler of ACCOUNT_EXPORT_TASK (payload `{ exportId }`, no tenant). */
export function createAccountExportJobHandler(deps: AccountExportJobDeps): JobHandler {
  return async (payload, job) => {
    const exportId = (payload as { exportId?: unknown } | null)?.exportId;
    if (!isTenantId(exportId)) {
      deps.log.error({ component: 'gdpr' }, 'account export job without an export id: dropped');
      return;
    }
    await runAccountExport(deps, exportId, job.attempt);
  };
}
