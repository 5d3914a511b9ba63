import type { TenantCtx } from '../tenancy/context.js';
import { databaseOf, scopeStorage, type TenantDb } from '../tenancy/tenant-database.js';
import { TenancyError } from '../tenancy/errors.js';
import type { AuditEntry, AuditEventInput } from './chain.js';
import { draftEntry } from './draft.js';
import { deferDomainEvent } from '../events/outbox.js';
import { cachedPersonalKeys, personalDataKeysOf, personalKeysFor, sealEntry } from './personal-fields.js';

export type { AuditEventInput } from './chain.js';
export { jsonText, splitAtSeq } from './draft.js';

/** A recorded event: its chain entry without the seq, which it gets when it is sealed. */
export type RecordedAudit = Omit<AuditEntry, 'seq'>;

const INSERT_PENDING = `insert into audit_pending (organization_id, id, occurred_at, prefix, suffix,
  actor_type, actor_id, action, target_type, target_id, ip, user_agent, request_id, changes, metadata)
  values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15::jsonb)`;

/** Who is told that an organization has new pending events, per database (`databaseOf`: its sealer). */
const listeners = new WeakMap<object, Set<(org: string) => void>>();

/**
 * Calls `fn` with the organization each time a transaction commits an audit event on `db`'s database:
 * through `db` or any handle on the same database (the control database's schema-placed and moving
 * organizations, placement.ts).
 */
export function onAuditRecorded(db: TenantDb, fn: (org: string) => void): () => void {
  const data = databaseOf(db);
  let set = listeners.get(data);
  if (!set) {
    set = new Set();
    listeners.set(data, set);
  }
  set.add(fn);
  return () => set.delete(fn);
}

/**
 * Records one event of the organization's audit log in the caller's write transaction: the event is
 * committed with the change it describes, or not at all.
 *
 * One INSERT into `audit_pending` (migration 0015), sent in the same network write as the COMMIT
 * (`deferUntilCommit`): no round trip and no lock of its own, so writers of one organization no longer
 * queue behind each other. If the insert fails, the whole transaction is rolled back and the error
 * surfaces from `withTenant`. The event gets its seq and hash when it is sealed into the chain
 * (`app_audit_seal`, seconds later: see sealer.ts), which is why none is returned here.
 * Actor and request id come from `ctx`; IP and user agent from the request context, sealed under the
 * acting user's key when `db`'s database has a user key store (personal-fields.ts). An action mapped to
 * a domain event also writes that event to the webhook outbox in the same transaction (events/outbox.ts).
 */
export async function recordAudit(
  db: TenantDb,
  ctx: TenantCtx,
  event: AuditEventInput,
): Promise<RecordedAudit> {
  const scope = scopeStorage.getStore();
  if (!scope || scope.tenantId !== ctx.tenantId || scope.db !== db) {
    throw new TenancyError(
      'NO_TENANT_CONTEXT',
      'recordAudit must run inside the write scope of ctx.tenantId',
    );
  }
  if (scope.mode !== 'write') {
    throw new TenancyError('TENANT_SCOPE_CONFLICT', 'recordAudit needs a write scope, not a read scope');
  }
  // Personal fields are sealed under user keys: from the cache (no round trip), or read (and created on
  // first need) in this transaction; a key created here is cached only once the COMMIT succeeded.
  const data = databaseOf(db);
  const store = personalDataKeysOf(data);
  let keys = store ? cachedPersonalKeys(store, ctx.actor, event) : null;
  if (keys === undefined) keys = await personalKeysFor(store!, db, ctx.actor, event);
  const { entry, prefix, suffix, changesJson, metadataJson } = draftEntry(
    ctx.tenantId,
    ctx.actor,
    ctx.requestId,
    event,
    keys ? (e) => sealEntry(e, keys, event) : undefined,
  );
  const org = ctx.tenantId;
  scope.deferUntilCommit(
    INSERT_PENDING,
    [
      org,
      entry.id,
      entry.occurred_at,
      prefix,
      suffix,
      entry.actor.type,
      entry.actor.id,
      entry.action,
      entry.target.type,
      entry.target.id,
      entry.ip,
      entry.user_agent,
      entry.request_id,
      changesJson,
      metadataJson,
    ],
    () => {
      if (store && keys) for (const [userId, state] of keys.created) store.remember(userId, state);
      for (const fn of listeners.get(data) ?? []) fn(org);
    },
  );
  // Its domain event (if the action is one, src/platform/events/catalog.ts), sent with the same COMMIT.
  // (A `database` placement's asks its tenant database first: a promise then, else nothing to wait for.)
  const domainEvent = deferDomainEvent(scope, entry);
  if (domainEvent !== undefined) await domainEvent;
  return recordedOf(entry);
}

/** The entry without its seq, written out: an object rest (`{ seq, ...rest }`) copies through a slow
 *  generic path, about 0.4 µs per event on this machine against 0.03. */
const recordedOf = (e: AuditEntry): RecordedAudit => ({
  v: e.v,
  organization_id: e.organization_id,
  id: e.id,
  occurred_at: e.occurred_at,
  actor: e.actor,
  action: e.action,
  target: e.target,
  ip: e.ip,
  user_agent: e.user_agent,
  request_id: e.request_id,
  changes: e.changes,
  metadata: e.metadata,
});
