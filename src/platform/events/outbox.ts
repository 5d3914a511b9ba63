import { CompiledQuery } from 'kysely';
import type { AuditEntry } from '../audit/chain.js';
import { installedJobPayloadBox, sealJobPayload } from '../jobs/payload-seal.js';
import type { ScopeConnection } from '../tenancy/tenant-connection.js';
import { eventOf } from './catalog.js';

/** The tenant job that fans an organization's new events out into deliveries (src/modules/webhooks). */
export const DISPATCH_TASK = 'webhooks.dispatch';
/** Its job key: one pending dispatch per organization (a second enqueue replaces the first). */
export const DISPATCH_JOB_KEY = 'webhooks.dispatch';

/**
 * The outbox insert, only while the organization has an enabled endpoint (nobody else reads the outbox),
 * and with it, in the same statement, the dispatch job (`app_enqueue_job`, only when the row went in).
 * $1 organization, $2 event id, $3 type, $4 payload, $5 occurred at, $6 the sealed job payload.
 */
const INSERT_AND_DISPATCH = `with ev as (
    insert into webhook_events (organization_id, id, type, payload, occurred_at)
    select $1::uuid, $2::uuid, $3::text, $4::jsonb, $5::timestamptz
     where exists (select 1 from webhook_endpoints w where w.organization_id = $1::uuid and w.enabled)
    returning id
  )
  select app_enqueue_job('${DISPATCH_TASK}', $6::json, '${DISPATCH_JOB_KEY}', 10, null) from ev`;

/** The same insert when this transaction already queued the dispatch job. */
const INSERT_ONLY = `insert into webhook_events (organization_id, id, type, payload, occurred_at)
    select $1::uuid, $2::uuid, $3::text, $4::jsonb, $5::timestamptz
     where exists (select 1 from webhook_endpoints w where w.organization_id = $1::uuid and w.enabled)`;

/** The dispatch job alone ($1 the sealed job payload), where the outbox is on another database. */
const ENQUEUE_DISPATCH = `select app_enqueue_job('${DISPATCH_TASK}', $1::json, '${DISPATCH_JOB_KEY}', 10, null)`;

/** Scopes (transactions) that already carry a dispatch job. */
const dispatchQueued = new WeakSet<ScopeConnection>();

/**
 * Writes the domain event of an audit entry (if its action is mapped, src/platform/events/catalog.ts) to
 * the outbox IN THE SAME TRANSACTION: the statement is sent with the COMMIT, like the audit insert itself,
 * so it costs no round trip, and the event exists if and only if the change committed. Called by
 * `recordAudit` only.
 */
export function deferDomainEvent(scope: ScopeConnection, entry: AuditEntry): Promise<void> | undefined {
  const event = eventOf(entry);
  if (!event) return undefined;
  const params: unknown[] = [
    event.organization_id,
    event.id,
    event.type,
    JSON.stringify(event),
    event.timestamp,
  ];
  if (scope.splitsDirectory)
    return deferAcrossDatabases(scope, event.organization_id, params, entry.request_id);
  if (dispatchQueued.has(scope)) {
    scope.deferUntilCommit(INSERT_ONLY, params);
    return undefined;
  }
  dispatchQueued.add(scope);
  const job = sealJobPayload(
    installedJobPayloadBox(),
    DISPATCH_TASK,
    { tenantId: event.organization_id, requestId: entry.request_id, payload: {} },
    Date.now(),
    DISPATCH_JOB_KEY,
  );
  scope.deferUntilCommit(INSERT_AND_DISPATCH, [...params, JSON.stringify(job)]);
  return undefined;
}

/** Whether the organization has an enabled endpoint ($1): the outbox's own condition, asked first where
 *  the outbox and the job queue are in two databases. */
const HAS_ENDPOINT = `select exists (select 1 from webhook_endpoints w where w.organization_id = $1::uuid and w.enabled) as on`;

/**
 * A `database` placement's scope (split-connection.ts): the outbox is in its tenant database, the job queue
 * in the control database, and one statement cannot reach both. The outbox's condition is asked first (one
 * read of the tenant database); only with an enabled endpoint are the event and, once per transaction, the
 * dispatch job deferred, both with the scope's (two-phase) COMMIT. An organization without endpoints writes
 * nothing more, and its audited writes stay on its tenant database alone.
 */
async function deferAcrossDatabases(
  scope: ScopeConnection,
  organizationId: string,
  params: unknown[],
  requestId: string | null,
): Promise<void> {
  const res = await scope.executeQuery<{ on: boolean }>(CompiledQuery.raw(HAS_ENDPOINT, [organizationId]));
  if (res.rows[0]?.on !== true) return;
  scope.deferUntilCommit(INSERT_ONLY, params);
  if (dispatchQueued.has(scope)) return;
  dispatchQueued.add(scope);
  const job = sealJobPayload(
    installedJobPayloadBox(),
    DISPATCH_TASK,
    { tenantId: organizationId, requestId, payload: {} },
    Date.now(),
    DISPATCH_JOB_KEY,
  );
  scope.deferUntilCommit(ENQUEUE_DISPATCH, [JSON.stringify(job)]);
}
