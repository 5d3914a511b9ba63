import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { currentContext } from '../tenancy/context.js';

/** Every job carries the tenant (if any) and the request that caused it, and re-enters `withTenant`. */
export interface JobEnvelope<P> {
  readonly tenantId: string | null;
  readonly requestId: string | null;
  readonly payload: P;
}

/**
 * Queues a job IN THE CALLER'S TRANSACTION (graphile-worker's `add_job`), so the job exists if and only
 * if the transaction commits: a crash never loses it, a rollback never sends it. `jobKey` makes the
 * enqueue idempotent (a second enqueue with the same key replaces the pending job).
 */
export async function enqueueJob<P>(
  db: Kysely<Database>,
  task: string,
  envelope: { tenantId: string | null; payload: P },
  opts: { jobKey?: string; maxAttempts?: number; runAt?: Date } = {},
): Promise<void> {
  const body: JobEnvelope<P> = { ...envelope, requestId: currentContext()?.requestId ?? null };
  await sql`select graphile_worker.add_job(
    ${task}, ${JSON.stringify(body)}::json,
    job_key => ${opts.jobKey ?? null}::text,
    max_attempts => ${opts.maxAttempts ?? 10}::int,
    run_at => ${opts.runAt ?? null}::timestamptz
  )`.execute(db);
}
