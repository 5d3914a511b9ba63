import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { AuditVerifier } from '../../platform/audit/signing.js';
import { storedEntry, type StoredEntry } from '../../platform/audit/stored.js';
import { verifyChain, type ChainVerification } from '../../platform/audit/verify-chain.js';
import { sealPending, unsealedEvents, type UnsealedEvents } from '../../platform/audit/seal.js';
import * as repo from './audit.repository.js';
import { toCheckpointView } from './audit-views.js';

const BATCH = 1000;

/** Reads an organization's chain oldest first, one read scope per batch of 1,000 entries. */
export async function* chainEntries(withTenant: WithTenant, org: string): AsyncGenerator<StoredEntry> {
  let cursor: number | undefined;
  for (;;) {
    const rows = await withTenant(
      org,
      (db) => repo.listEvents(db, org, {}, { cursor, limit: BATCH, order: 'asc' }),
      {
        mode: 'read',
      },
    );
    for (const r of rows) yield storedEntry(r);
    if (rows.length < BATCH) return;
    cursor = Number(rows[rows.length - 1]!.seq);
  }
}

/**
 * Seals what was recorded so far, then recomputes an organization's whole chain and checks its head and
 * every signed checkpoint (a break is confirmed by a second pass before it is reported); `unsealed` is
 * what was still pending afterwards (recorded meanwhile), not covered by this verification. Used by `GET /v1/audit-logs/verify` and by `saasready audit verify --org`.
 */
export async function verifyOrganizationChain(
  withTenant: WithTenant,
  verifier: AuditVerifier,
  org: string,
): Promise<ChainVerification & { organizationId: string; unsealed: UnsealedEvents }> {
  await sealPending(withTenant, org);
  const pass = async () => {
    const [head, checkpoints, cutDays] = await withTenant(
      org,
      async (db) =>
        Promise.all([repo.chainHead(db, org), repo.listCheckpoints(db, org), repo.retentionCutDays(db, org)]),
      { mode: 'read' },
    );
    return verifyChain({
      entries: chainEntries(withTenant, org),
      head: head ?? null,
      checkpoints: checkpoints.map((c) => {
        const v = toCheckpointView(c);
        return { statement: v.statement, signature: c.signature };
      }),
      verifier,
      // A chain cut at a checkpoint is accepted only when that checkpoint is older than the retention the
      // signed checkpoints from it on state (migration 0069); for chains whose checkpoints state none (the
      // legacy window), the retention the purge recorded at its latest cut (none: the shortest a plan sets).
      ...(cutDays === null ? {} : { retentionDays: cutDays }),
    });
  };
  // The head and checkpoints, then the entries, are read in separate transactions: a retention purge
  // committed in between (checkpoints read that its cut then deleted, with their entries) looks like a
  // break. A break is reported only when a second pass, on a fresh read, finds it too: tampering stays.
  let result = await pass();
  if (!result.valid) result = await pass();
  return { organizationId: org, ...result, unsealed: await unsealedEvents(withTenant, org) };
}
