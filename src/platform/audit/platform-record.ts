import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Principal } from '../tenancy/context.js';
import type { AuditEntry, AuditEventInput } from './chain.js';
import { draftAudit } from './draft.js';

/** Who acts on the platform (no organization). */
export interface PlatformActor {
  readonly actor: Principal;
  readonly requestId: string;
}

/**
 * Appends one event to the platform chain (actions with no organization, e.g. feature flag definitions),
 * in the caller's transaction on the platform database: `platformDb.transaction().execute(trx => …)`.
 * Same entry shape, hashing and locking as an organization's chain (`recordAudit`), through the one
 * function allowed to append (`app_platform_audit_append`).
 */
export async function recordPlatformAudit(
  trx: Transaction<Database> | Kysely<Database>,
  who: PlatformActor,
  event: AuditEventInput,
): Promise<AuditEntry> {
  if (!trx.isTransaction) throw new Error('recordPlatformAudit must run inside a transaction');
  const { entry: draft, args } = draftAudit(null, who.actor, who.requestId, event);
  const res = await sql<{ seq: string }>`select seq from app_platform_audit_append(${args})`.execute(trx);
  const row = res.rows[0];
  if (!row) throw new Error('platform audit append returned no row');
  const entry = { ...draft, seq: Number(row.seq) };
  return entry;
}
