import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { currentContext } from '../tenancy/context.js';
import { installedJobPayloadBox, sealJobPayload } from './payload-seal.js';

/** Every job carries the tenant (if any) and the request that caused it, and re-enters `withTenant`. */
export interface JobEnvelope<P> {
  readonly tenantId: string | null;
  readonly requestId: string | null;
  readonly payload: P;
}

/**
 * Queues a job IN THE CALLER'S TRANSACTION, so the job exists if and only if the transaction commits: a
 * crash never loses it, a rollback never sends it. The payload is sealed here (see `payload-seal.ts`:
 * a job row holds no readable credential) and queued through `app_enqueue_job`, the runtime role's only
 * way into the queue: it accepts only enqueueable tasks, and a job of tenant X only inside X's scope (a
 * job without a tenant from any scope: it runs outside every tenant). `jobKey` makes the enqueue
 * idempotent within the tenant (a second enqueue with the same key replaces the pending job). The key is
 * sealed into the payload, so a payload moved to another key does not open; a pending job WITHOUT a
 * tenant can still be replaced from any scope by reusing its key, but only with a payload that fails at
 * once (the mail is lost, never altered or redirected).
 */
export async function enqueueJob<P>(
  db: Kysely<Database>,
  task: string,
  envelope: { tenantId: string | null; payload: P },
  opts: { jobKey?: string; maxAttempts?: number; runAt?: Date } = {},
): Promise<void> {
  const row = sealJobPayload(
    installedJobPayloadBox(),
    task,
    {
      tenantId: envelope.tenantId,
      requestId: currentContext()?.requestId ?? null,
      payload: envelope.payload,
    },
    Date.now(),
    opts.jobKey ?? null,
  );
  await sql`select app_enqueue_job(
    ${task}, ${JSON.stringify(row)}::json, ${opts.jobKey ?? null}::text,
    ${opts.maxAttempts ?? 10}::int, ${opts.runAt ?? null}::timestamptz
  )`.execute(db);
}
