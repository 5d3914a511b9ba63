import { sql, type Kysely } from 'kysely';
import { createTenantTable, type MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * Issue 12, domain events and signed webhooks (src/platform/events, src/modules/webhooks, docs/webhooks.md).
 *
 * - `webhook_endpoints` (tenant): an organization's receivers: URL, event-type filter, description, enabled
 *   (or disabled, by a person or for failing too long), the signing secret SEALED with the organization's
 *   data key (`sealForTenant`, binding `webhook_endpoints.secret`, row id = endpoint id), and since when it
 *   has failed without a success in between (`failing_since`).
 * - `webhook_events` (tenant): the outbox. One row per domain event, inserted by `recordAudit` in the
 *   transaction of the change (only while the organization has an enabled endpoint: nobody else reads it);
 *   `dispatched_at` is set when the dispatcher has fanned it out into deliveries.
 * - `webhook_deliveries` (tenant): one per (event, endpoint), unique, so a dispatch retried after a crash
 *   never creates a second delivery: status, attempts, when the next one is due, the last answer.
 * - `webhook_delivery_attempts` (tenant, append-only): the delivery log: each POST with its response
 *   status, duration, the start of the response body and the error.
 * - `enqueueable_tasks`: `webhooks.dispatch` and `webhooks.deliver` (tenant jobs, queued in the transaction
 *   that makes them due).
 * No privileged function: every step runs inside the organization's own tenant scope.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);

  await createTenantTable(db, ctx, {
    name: 'webhook_endpoints',
    columns: `id uuid not null,
      url text not null check (char_length(url) between 8 and 2000),
      description text not null default '' check (char_length(description) <= 500),
      event_types text[] not null check (cardinality(event_types) between 1 and 50),
      enabled boolean not null default true,
      disabled_reason text check (disabled_reason in ('manual', 'failing')),
      secret text not null check (char_length(secret) between 1 and 2000),
      failing_since timestamptz,
      created_by_user_id uuid,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      check (enabled = (disabled_reason is null))`,
    primaryKey: ['id'],
  });

  await createTenantTable(db, ctx, {
    name: 'webhook_events',
    columns: `id uuid not null,
      type text not null check (type ~ '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$'),
      payload jsonb not null,
      occurred_at timestamptz not null,
      dispatched_at timestamptz`,
    primaryKey: ['id'],
  });
  await sql`create index webhook_events_undispatched on webhook_events (organization_id, id)
    where dispatched_at is null`.execute(db);
  await sql`revoke all on webhook_events from ${runtime}`.execute(db);
  await sql`grant select, insert on webhook_events to ${runtime}`.execute(db);
  await sql`grant update (dispatched_at) on webhook_events to ${runtime}`.execute(db);

  await createTenantTable(db, ctx, {
    name: 'webhook_deliveries',
    columns: `id uuid not null,
      event_id uuid not null,
      endpoint_id uuid not null,
      status text not null default 'pending' check (status in ('pending', 'succeeded', 'dead')),
      attempts integer not null default 0 check (attempts >= 0),
      next_attempt_at timestamptz,
      last_status integer check (last_status between 100 and 599),
      last_error text check (char_length(last_error) <= 500),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      succeeded_at timestamptz,
      foreign key (organization_id, event_id) references webhook_events (organization_id, id)
        on delete cascade,
      foreign key (organization_id, endpoint_id) references webhook_endpoints (organization_id, id)
        on delete cascade`,
    primaryKey: ['id'],
  });
  await sql`create unique index webhook_deliveries_once on webhook_deliveries
    (organization_id, event_id, endpoint_id)`.execute(db);
  await sql`create index webhook_deliveries_by_endpoint on webhook_deliveries
    (organization_id, endpoint_id, id)`.execute(db);
  await sql`revoke all on webhook_deliveries from ${runtime}`.execute(db);
  await sql`grant select, insert, update on webhook_deliveries to ${runtime}`.execute(db);

  await createTenantTable(db, ctx, {
    name: 'webhook_delivery_attempts',
    columns: `id uuid not null,
      delivery_id uuid not null,
      attempt integer not null check (attempt >= 1),
      trigger text not null check (trigger in ('automatic', 'manual')),
      started_at timestamptz not null,
      duration_ms integer not null check (duration_ms >= 0),
      response_status integer check (response_status between 100 and 599),
      response_body text check (char_length(response_body) <= 2048),
      error text check (char_length(error) <= 500),
      foreign key (organization_id, delivery_id) references webhook_deliveries (organization_id, id)
        on delete cascade`,
    primaryKey: ['id'],
    appendOnly: true,
  });
  await sql`create index webhook_delivery_attempts_by_delivery on webhook_delivery_attempts
    (organization_id, delivery_id, attempt)`.execute(db);

  await sql`insert into enqueueable_tasks (task, description) values
    ('webhooks.dispatch', 'fans an organization''s new domain events out into webhook deliveries'),
    ('webhooks.deliver', 'one signed POST of a webhook delivery to its endpoint')`.execute(db);
}
