import type { PlatformDb } from '../../platform/db/platform-db.js';
import type { Kysely } from 'kysely';
import type { AuditEventsTable, Database } from '../../platform/db/schema.js';
import { storedEntry, type StoredEntry } from '../../platform/audit/stored.js';
import { verifyChain, type ChainVerification } from '../../platform/audit/verify-chain.js';
import { decodeCursor, toPage, type Page, pageLimit, isSeqKey } from '../../platform/pagination.js';
import { toEventView, type AuditEventView } from './audit-views.js';
import { actionMatch } from './audit.repository.js';
import { openPersonalFields } from '../../platform/audit/personal-fields.js';
import type { UserKeyStore } from '../../platform/user-keys/user-keys.js';

/** The platform chain (actions with no organization: flag definitions, …), for platform administrators. */
export interface PlatformAuditService {
  /** Events newest first, optionally one action (exact or `flag.*`), cursor-paginated. */
  list(
    filter: { action?: string },
    page?: { limit?: number; cursor?: string },
  ): Promise<Page<AuditEventView>>;
  /** Recomputes the platform chain and checks its head. */
  verify(): Promise<ChainVerification>;
}

const BATCH = 1000;
const asRow = (r: Omit<AuditEventsTable, 'organization_id'>): AuditEventsTable => ({
  ...r,
  organization_id: '',
});

/** Reads the platform chain through the platform database (the runtime role may only SELECT it). */
export function createPlatformAuditService(deps: {
  db: PlatformDb;
  /** Opens personal fields sealed under user keys (without it they are shown sealed). */
  userKeys?: UserKeyStore;
}): PlatformAuditService {
  const { db } = deps;

  async function* entries(reader: Kysely<Database>): AsyncGenerator<StoredEntry> {
    let after = 0;
    for (;;) {
      const rows = await reader
        .selectFrom('platform_audit_events')
        .selectAll()
        .where('seq', '>', String(after))
        .orderBy('seq')
        .limit(BATCH)
        .execute();
      for (const r of rows) yield storedEntry({ ...r, organization_id: null });
      if (rows.length < BATCH) return;
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  return {
    async list(filter, page) {
      const limit = pageLimit(page?.limit);
      const cursor = decodeCursor(page?.cursor, isSeqKey);
      let q = db.selectFrom('platform_audit_events').selectAll();
      if (filter.action !== undefined) {
        const a = actionMatch(filter.action);
        q = q.where('action', a.op, a.value);
      }
      if (cursor !== undefined) q = q.where('seq', '<', cursor);
      const rows = await q
        .orderBy('seq', 'desc')
        .limit(limit + 1)
        .execute();
      const opened = await openPersonalFields(
        deps.userKeys,
        db,
        rows.map((r) => ({ ...r, organization_id: null })),
      );
      const view = new Map(rows.map((r, i) => [r, toEventView(asRow(r), opened[i])]));
      return toPage(
        rows,
        limit,
        (r) => String(r.seq),
        (r) => view.get(r)!,
      );
    },

    async verify() {
      // One snapshot for the head and every entry: the platform chain is shared, and an append committed
      // between reading the head and reading the entries would look like entries beyond the head.
      return db
        .transaction()
        .setIsolationLevel('repeatable read')
        .setAccessMode('read only')
        .execute(async (trx) => {
          const head = await trx.selectFrom('platform_audit_head').select(['seq', 'hash']).executeTakeFirst();
          return verifyChain({
            entries: entries(trx),
            head: head ? { seq: Number(head.seq), hash: head.hash } : null,
          });
        });
    },
  };
}
