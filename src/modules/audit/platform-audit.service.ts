import type { PlatformDb } from '../../platform/db/platform-db.js';
import type { AuditEventsTable } from '../../platform/db/schema.js';
import { storedEntry, type StoredEntry } from '../../platform/audit/stored.js';
import { verifyChain, type ChainVerification } from '../../platform/audit/verify-chain.js';
import {
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  decodeCursor,
  toPage,
  type Page,
} from '../../platform/pagination.js';
import { toEventView, type AuditEventView } from './audit-views.js';

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

const isSeq = (s: string) => /^[1-9][0-9]{0,17}$/.test(s);
const BATCH = 1000;
const asRow = (r: Omit<AuditEventsTable, 'organization_id'>): AuditEventsTable => ({
  ...r,
  organization_id: '',
});

/** Reads the platform chain through the platform database (the runtime role may only SELECT it). */
export function createPlatformAuditService(deps: { db: PlatformDb }): PlatformAuditService {
  const { db } = deps;

  async function* entries(): AsyncGenerator<StoredEntry> {
    let after = 0;
    for (;;) {
      const rows = await db
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
      const limit = Math.min(Math.max(page?.limit ?? DEFAULT_PAGE_SIZE, 1), MAX_PAGE_SIZE);
      const cursor = decodeCursor(page?.cursor, isSeq);
      let q = db.selectFrom('platform_audit_events').selectAll();
      if (filter.action !== undefined) {
        q = filter.action.endsWith('.*')
          ? q.where('action', 'like', `${filter.action.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
          : q.where('action', '=', filter.action);
      }
      if (cursor !== undefined) q = q.where('seq', '<', cursor);
      const rows = await q
        .orderBy('seq', 'desc')
        .limit(limit + 1)
        .execute();
      return toPage(
        rows,
        limit,
        (r) => String(r.seq),
        (r) => toEventView(asRow(r)),
      );
    },

    async verify() {
      const head = await db.selectFrom('platform_audit_head').select(['seq', 'hash']).executeTakeFirst();
      return verifyChain({
        entries: entries(),
        head: head ? { seq: Number(head.seq), hash: head.hash } : null,
      });
    },
  };
}
