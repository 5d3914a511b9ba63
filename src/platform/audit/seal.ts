import { sql } from 'kysely';
import type { WithTenant } from '../tenancy/with-tenant.js';

/** Events sealed per call of `app_audit_seal` (one transaction). */
export const SEAL_BATCH = 500;

/**
 * Seals up to `max` committed pending events of `org` into its chain (`app_audit_seal`, migration 0015),
 * in a write scope of that organization. `wait`: queue for the chain head if another sealer holds it;
 * otherwise return -1 at once. Returns how many events were sealed.
 */
export async function sealBatch(
  withTenant: WithTenant,
  org: string,
  opts: { wait: boolean; max?: number },
): Promise<number> {
  const max = opts.max ?? SEAL_BATCH;
  return withTenant(org, async (db) => {
    const res = await sql<{
      sealed: number;
    }>`select app_audit_seal(${org}, ${max}, ${opts.wait}) as sealed`.execute(db);
    return Number(res.rows[0]?.sealed ?? 0);
  });
}

/**
 * Seals every event of `org` committed before this call (waiting for the chain head): what reading
 * paths call first, so a list, an export, a verification or a checkpoint sees what was written before
 * it. Bounded (`maxBatches`) so a flood of concurrent writes cannot keep a reader here; whatever is left
 * is sealed by the next call or the background sealer. Returns how many events were sealed.
 */
export async function sealPending(withTenant: WithTenant, org: string, maxBatches = 20): Promise<number> {
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await sealBatch(withTenant, org, { wait: true });
    total += n;
    if (n < SEAL_BATCH) break;
  }
  return total;
}

/** Events of `org` recorded but not sealed yet: how many, and when the oldest happened. */
export interface UnsealedEvents {
  readonly count: number;
  readonly oldestOccurredAt: string | null;
}

/** Reads `org`'s unsealed events (a read of `audit_pending` in the organization's own scope). */
export async function unsealedEvents(withTenant: WithTenant, org: string): Promise<UnsealedEvents> {
  return withTenant(
    org,
    async (db) => {
      const res = await sql<{ count: string; oldest: Date | null }>`select count(*) as count,
        min(occurred_at) as oldest from audit_pending where organization_id = ${org}`.execute(db);
      const row = res.rows[0];
      return {
        count: Number(row?.count ?? 0),
        oldestOccurredAt: row?.oldest ? row.oldest.toISOString() : null,
      };
    },
    { mode: 'read' },
  );
}
