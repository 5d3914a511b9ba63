import { sql, type Kysely } from 'kysely';

/**
 * Issue 11, ingestion cost (docs/performance.md, "Usage ingestion"). Two per-row costs of the batch
 * statement that protected nothing the service does not already guarantee more cheaply; the isolation
 * of both tables (forced RLS, the one tenant policy, the runtime role's grants) is unchanged.
 *
 * 1. `usage_events_meter_format` was `meter ~ '^[a-z][a-z0-9_.-]{0,63}$'`: PostgreSQL's regex engine
 *    expands the bounded repetition, and the check cost about 9 µs per row (measured: a scan of 200,000
 *    rows with and without it), the largest single cost of storing an event. The same rule written as
 *    an unbounded class plus a length costs 0.7 µs: `^[a-z][a-z0-9_.-]*$` and at most 64 bytes (the class
 *    is ASCII, so bytes are characters). Every row that passed the old check passes the new one and
 *    conversely, so re-adding it cannot fail.
 * 2. The foreign key `usage_event_keys.organization_id → organizations` ran PostgreSQL's referential
 *    check once per inserted key (a query and a `FOR KEY SHARE` row lock on the organization each time),
 *    10-20 µs per event. The batch statement now checks the organization once per statement instead
 *    (`where exists (select 1 from organizations …)`: under the organizations policy that is also "the
 *    scope's own organization"), so a batch for an organization that does not exist still stores
 *    nothing. What is given up: deleting an organization no longer cascades to its keys; they go with
 *    the hourly purge (lateness window + 1 day), exactly as its raw events go with retention
 *    (`usage_events` never had the foreign key), and the aggregator already ignores events of unknown
 *    organizations (it joins `organizations`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table usage_events drop constraint usage_events_meter_format,
    add constraint usage_events_meter_format check (meter ~ '^[a-z][a-z0-9_.-]*$' and octet_length(meter) <= 64)`.execute(
    db,
  );
  await sql`alter table usage_event_keys drop constraint usage_event_keys_organization_id_fkey`.execute(db);
}
