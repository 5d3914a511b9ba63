import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { currentContext, type Principal } from '../tenancy/context.js';
import { uuidv7 } from '../ids.js';
import { buildEntry, entryHash, GENESIS_HASH, type AuditEntry, type AuditEventInput } from './chain.js';
import { jsonText } from './record.js';

/** Who acts on the platform (no organization). */
export interface PlatformActor {
  readonly actor: Principal;
  readonly requestId: string;
}

/**
 * Appends one event to the platform chain (actions with no organization, e.g. feature flag definitions),
 * in the caller's transaction on the platform database: `platformDb.transaction().execute(trx => …)`.
 * Same entry shape, hashing and locking as an organization's chain (`recordAudit`).
 */
export async function recordPlatformAudit(
  trx: Transaction<Database> | Kysely<Database>,
  who: PlatformActor,
  event: AuditEventInput,
): Promise<AuditEntry> {
  if (!trx.isTransaction) throw new Error('recordPlatformAudit must run inside a transaction');
  const head = await sql<{ seq: string; hash: Buffer }>`
    insert into platform_audit_head as h (singleton, seq, hash) values (true, 1, ${GENESIS_HASH})
    on conflict (singleton) do update set seq = h.seq + 1
    returning seq, hash`.execute(trx);
  const row = head.rows[0];
  if (!row) throw new Error('platform audit head upsert returned no row');
  const request = currentContext();
  const sameRequest = request?.requestId === who.requestId;
  const entry = buildEntry({
    organizationId: null,
    seq: Number(row.seq),
    id: uuidv7(),
    occurredAt: new Date(),
    actor: who.actor,
    requestId: who.requestId,
    ip: sameRequest ? request.ip : null,
    userAgent: sameRequest ? request.userAgent : null,
    event,
  });
  const hash = entryHash(row.hash, entry);
  await sql`
    with e as (
      insert into platform_audit_events (seq, id, occurred_at, actor_type, actor_id, action, target_type,
        target_id, ip, user_agent, request_id, changes, metadata, prev_hash, hash)
      values (${entry.seq}, ${entry.id}, ${entry.occurred_at}, ${entry.actor.type}, ${entry.actor.id},
        ${entry.action}, ${entry.target.type}, ${entry.target.id}, ${entry.ip}, ${entry.user_agent},
        ${entry.request_id}, ${jsonText(entry.changes)}::jsonb, ${jsonText(entry.metadata)}::jsonb,
        ${row.hash}, ${hash})
      returning seq, hash
    )
    update platform_audit_head h set hash = e.hash, updated_at = now() from e where h.seq = e.seq`.execute(
    trx,
  );
  return entry;
}
