import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { DISPATCH_JOB_KEY, DISPATCH_TASK } from '../../platform/events/outbox.js';
import type { EventPayload } from '../../platform/events/catalog.js';
import { enqueueJob } from '../../platform/jobs/enqueue.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';

/**
 * The `organization.deleted` webhook of an organization's hard delete (docs/webhooks.md, "The last event").
 * The organization's rows, outbox and deliveries included, are purged and its data key destroyed, so the
 * event has to be delivered before that: the deletion job announces it once the organization is out of
 * reach (`suspended`/`deletion`) and waits, before its first purge batch, until every delivery of it is
 * final (succeeded or dead), at most {@link deletionWaitLimitMs} after the hard delete started.
 */
export interface DeletionWebhooks {
  /** Writes the event to the outbox (once: its id is derived from the organization) and queues the
   *  dispatch, when the organization has an enabled endpoint. True when it was written now. */
  announce(orgId: string, ledger: DeletionFacts): Promise<boolean>;
  /** True while the event waits for its dispatch or a delivery of it is still pending. */
  pending(orgId: string): Promise<boolean>;
  /** How long after the start of the hard delete the purge waits at most (the retry schedule's end). */
  readonly waitLimitMs: number;
}

/** What the event tells about the deletion (from the deletion ledger). */
export interface DeletionFacts {
  readonly requestedAt: Date;
  readonly dueAt: Date;
  readonly startedAt: Date;
}

/** The system actor of the event (the same name as the deletion record's in the platform chain). */
const ACTOR = 'organization-deletion';

/**
 * The event's id: a UUID (version 8, RFC 9562) derived from the organization, so a second announce (a
 * resumed run, another instance) finds the first and never writes a second event.
 */
export function deletionEventId(orgId: string): string {
  const h = createHash('sha256').update(`organization.deleted:${orgId}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/**
 * How long the purge may wait for the deliveries: the sum of the retry schedule (the last attempt of a
 * delivery dispatched at the start), plus an hour for the dispatch, the attempts' own time and a job
 * runner catching up. Past it the purge goes ahead (a pending delivery is then lost with the rows).
 */
export function deletionWaitLimitMs(retryScheduleSeconds: readonly number[]): number {
  return (retryScheduleSeconds.reduce((a, b) => a + b, 0) + 3600) * 1000;
}

export function createDeletionWebhooks(deps: {
  withTenant: WithTenant;
  retryScheduleSeconds: readonly number[];
  log?: Logger;
}): DeletionWebhooks {
  return {
    waitLimitMs: deletionWaitLimitMs(deps.retryScheduleSeconds),

    announce(orgId, facts) {
      const id = deletionEventId(orgId);
      const event: EventPayload = {
        id,
        type: 'organization.deleted',
        timestamp: facts.startedAt.toISOString(),
        organization_id: orgId,
        actor: { type: 'system', id: ACTOR },
        data: {
          object: 'organization',
          id: orgId,
          requestedAt: facts.requestedAt.toISOString(),
          dueAt: facts.dueAt.toISOString(),
          startedAt: facts.startedAt.toISOString(),
        },
      };
      return deps.withTenant(orgId, async (db) => {
        // Written only while an enabled endpoint exists, like every outbox event (outbox.ts).
        const res = await sql<{ id: string }>`insert into webhook_events
            (organization_id, id, type, payload, occurred_at)
          select ${orgId}::uuid, ${id}::uuid, 'organization.deleted', ${JSON.stringify(event)}::jsonb,
                 ${facts.startedAt}::timestamptz
           where exists (select 1 from webhook_endpoints w
                          where w.organization_id = ${orgId}::uuid and w.enabled)
          on conflict do nothing
          returning id`.execute(db);
        if (res.rows.length === 0) return false;
        await enqueueJob(db, DISPATCH_TASK, { tenantId: orgId, payload: {} }, { jobKey: DISPATCH_JOB_KEY });
        deps.log?.info({ tenant_id: orgId, event: id }, 'organization.deleted event written');
        return true;
      });
    },

    pending(orgId) {
      const id = deletionEventId(orgId);
      return deps.withTenant(
        orgId,
        async (db) => {
          const res = await sql<{ pending: boolean }>`select
              exists (select 1 from webhook_events e
                       where e.organization_id = ${orgId}::uuid and e.id = ${id}::uuid
                         and e.dispatched_at is null)
              or exists (select 1 from webhook_deliveries d
                          where d.organization_id = ${orgId}::uuid and d.event_id = ${id}::uuid
                            and d.status = 'pending') as pending`.execute(db);
          return res.rows[0]?.pending === true;
        },
        { mode: 'read' },
      );
    },
  };
}
