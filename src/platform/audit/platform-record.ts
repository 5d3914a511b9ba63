import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { currentContext, type Principal } from '../tenancy/context.js';
import { uuidv7 } from '../ids.js';
import { buildEntry, type AuditEntry, type AuditEventInput } from './chain.js';
import { canonicalJson } from './canonical-json.js';
import { jsonText, splitAtSeq } from './record.js';

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
  const request = currentContext();
  const sameRequest = request?.requestId === who.requestId;
  const draft = buildEntry({
    organizationId: null,
    seq: 0,
    id: uuidv7(),
    occurredAt: new Date(),
    actor: who.actor,
    requestId: who.requestId,
    ip: sameRequest ? request.ip : null,
    userAgent: sameRequest ? request.userAgent : null,
    event,
  });
  const [prefix, suffix] = splitAtSeq(canonicalJson(draft));
  const res = await sql<{ seq: string }>`select seq from app_platform_audit_append(
      ${prefix}, ${suffix}, ${draft.id}, ${draft.occurred_at}, ${draft.actor.type}, ${draft.actor.id},
      ${draft.action}, ${draft.target.type}, ${draft.target.id}, ${draft.ip}, ${draft.user_agent},
      ${draft.request_id}, ${jsonText(draft.changes)}::jsonb, ${jsonText(draft.metadata)}::jsonb)`.execute(
    trx,
  );
  const row = res.rows[0];
  if (!row) throw new Error('platform audit append returned no row');
  const entry = { ...draft, seq: Number(row.seq) };
  return entry;
}
