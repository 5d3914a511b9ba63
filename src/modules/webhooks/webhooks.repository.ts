import { sql } from 'kysely';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

// Raw SQL over the tables of migration 0025; every query filters by organization_id explicitly (RLS is the
// backstop, and on Citus only an explicit filter routes a query to one shard).

export interface EndpointRow {
  id: string;
  url: string;
  description: string;
  event_types: string[];
  enabled: boolean;
  disabled_reason: 'manual' | 'failing' | null;
  failing_since: Date | null;
  created_at: Date;
  updated_at: Date;
}
/** The endpoint with its sealed secret (delivery, rotation): never returned by the API. */
export interface EndpointWithSecret extends EndpointRow {
  secret: string;
  /** The rotated-out secret (sealed) while its overlap lasts; null otherwise. */
  previous_secret: string | null;
}

const ENDPOINT = sql.raw(`id, url, description, event_types, enabled, disabled_reason, failing_since,
  created_at, updated_at`);

export async function insertEndpoint(
  db: TenantDb,
  org: string,
  row: {
    id: string;
    url: string;
    description: string;
    eventTypes: string[];
    enabled: boolean;
    secret: string;
    createdBy: string | null;
  },
): Promise<EndpointRow> {
  const res = await sql<EndpointRow>`insert into webhook_endpoints (organization_id, id, url, description,
      event_types, enabled, disabled_reason, secret, created_by_user_id)
    values (${org}, ${row.id}, ${row.url}, ${row.description}, ${row.eventTypes}::text[], ${row.enabled},
      ${row.enabled ? null : 'manual'}, ${row.secret}, ${row.createdBy})
    returning ${ENDPOINT}`.execute(db);
  return res.rows[0]!;
}

/**
 * How many endpoints the organization has, counted under a transaction-level lock of the organization's
 * endpoint list, so that concurrent creations cannot each see room for one more.
 */
export async function countEndpointsLocked(db: TenantDb, org: string): Promise<number> {
  await sql`select pg_advisory_xact_lock(hashtext(${`webhook_endpoints:${org}`}))`.execute(db);
  const res = await sql<{ n: number }>`select count(*)::int as n from webhook_endpoints
    where organization_id = ${org}`.execute(db);
  return res.rows[0]!.n;
}

export async function findEndpoint(
  db: TenantDb,
  org: string,
  id: string,
  opts: { forUpdate?: boolean } = {},
): Promise<EndpointWithSecret | undefined> {
  const lock = opts.forUpdate ? sql` for update` : sql``;
  const res = await sql<EndpointWithSecret>`select ${ENDPOINT}, secret,
      case when previous_secret_expires_at > now() then previous_secret end as previous_secret
    from webhook_endpoints where organization_id = ${org} and id = ${id}${lock}`.execute(db);
  return res.rows[0];
}

/** Newest first, strictly older than `before` (an endpoint id) when given; `limit + 1` rows for paging. */
export async function listEndpoints(
  db: TenantDb,
  org: string,
  opts: { before?: string; limit: number },
): Promise<EndpointRow[]> {
  const before = opts.before ? sql` and id < ${opts.before}` : sql``;
  const res = await sql<EndpointRow>`select ${ENDPOINT} from webhook_endpoints
    where organization_id = ${org}${before} order by id desc limit ${opts.limit + 1}`.execute(db);
  return res.rows;
}

export async function updateEndpoint(
  db: TenantDb,
  org: string,
  id: string,
  patch: {
    url?: string;
    description?: string;
    eventTypes?: string[];
    enabled?: boolean;
    secret?: string;
  },
): Promise<EndpointRow | undefined> {
  const enabled = patch.enabled;
  const res = await sql<EndpointRow>`update webhook_endpoints set
      url = coalesce(${patch.url ?? null}, url),
      description = coalesce(${patch.description ?? null}, description),
      event_types = coalesce(${patch.eventTypes ?? null}::text[], event_types),
      secret = coalesce(${patch.secret ?? null}, secret),
      enabled = coalesce(${enabled ?? null}::boolean, enabled),
      disabled_reason = case when ${enabled ?? null}::boolean is null then disabled_reason
                             when ${enabled ?? null}::boolean then null else 'manual' end,
      failing_since = case when ${enabled ?? null}::boolean then null else failing_since end,
      updated_at = now()
    where organization_id = ${org} and id = ${id}
    returning ${ENDPOINT}`.execute(db);
  return res.rows[0];
}

/**
 * Replaces the endpoint's secret, keeping the one it replaces as the previous secret until
 * `overlapSeconds` from now (none when 0): both sign meanwhile.
 */
export async function rotateEndpointSecret(
  db: TenantDb,
  org: string,
  id: string,
  sealed: { secret: string; previous: string | null },
  overlapSeconds: number,
): Promise<void> {
  const keep = sealed.previous !== null && overlapSeconds > 0;
  await sql`update webhook_endpoints set secret = ${sealed.secret},
      previous_secret = ${keep ? sealed.previous : null},
      previous_secret_expires_at = ${keep ? sql`now() + make_interval(secs => ${overlapSeconds})` : null},
      updated_at = now()
    where organization_id = ${org} and id = ${id}`.execute(db);
}

/**
 * Claims a delivery the stuck-delivery sweep found: still `pending` with its attempt due before `before`,
 * its next attempt moved to now (so a concurrent sweep's claim matches nothing). True when claimed.
 */
export async function claimStuckDelivery(
  db: TenantDb,
  org: string,
  id: string,
  before: Date,
): Promise<boolean> {
  const res = await sql<{
    id: string;
  }>`update webhook_deliveries set next_attempt_at = now(), updated_at = now()
    where organization_id = ${org} and id = ${id} and status = 'pending' and next_attempt_at < ${before}
    returning id`.execute(db);
  return res.rows.length > 0;
}

/** How many automatic attempts of a delivery were logged (every one, not only the last 20). */
export async function automaticAttemptCount(db: TenantDb, org: string, deliveryId: string): Promise<number> {
  const res = await sql<{ n: number }>`select count(*)::int as n from webhook_delivery_attempts
    where organization_id = ${org} and delivery_id = ${deliveryId} and trigger = 'automatic'`.execute(db);
  return res.rows[0]?.n ?? 0;
}

export async function deleteEndpoint(db: TenantDb, org: string, id: string): Promise<boolean> {
  const res = await sql`delete from webhook_endpoints where organization_id = ${org} and id = ${id}`.execute(
    db,
  );
  return Number(res.numAffectedRows ?? 0) > 0;
}

export interface EventRow {
  id: string;
  type: string;
  payload: unknown;
}

/** Events not dispatched yet, oldest first, locked (SKIP LOCKED: a concurrent dispatch takes the rest). */
export async function undispatchedEvents(db: TenantDb, org: string, limit: number): Promise<EventRow[]> {
  const res = await sql<EventRow>`select id, type, payload from webhook_events
    where organization_id = ${org} and dispatched_at is null
    order by id limit ${limit} for update skip locked`.execute(db);
  return res.rows;
}

export async function enabledEndpoints(
  db: TenantDb,
  org: string,
): Promise<{ id: string; event_types: string[] }[]> {
  const res = await sql<{ id: string; event_types: string[] }>`select id, event_types from webhook_endpoints
    where organization_id = ${org} and enabled order by id`.execute(db);
  return res.rows;
}

export async function markDispatched(db: TenantDb, org: string, ids: string[]): Promise<void> {
  await sql`update webhook_events set dispatched_at = now()
    where organization_id = ${org} and id = any(${ids}::uuid[])`.execute(db);
}

/** A new delivery; undefined when this (event, endpoint) has one already. */
export async function insertDelivery(
  db: TenantDb,
  org: string,
  row: { id: string; eventId: string; endpointId: string },
): Promise<string | undefined> {
  const res = await sql<{ id: string }>`insert into webhook_deliveries (organization_id, id, event_id,
      endpoint_id, next_attempt_at)
    values (${org}, ${row.id}, ${row.eventId}, ${row.endpointId}, now())
    on conflict (organization_id, event_id, endpoint_id) do nothing returning id`.execute(db);
  return res.rows[0]?.id;
}

export interface DeliveryRow {
  id: string;
  event_id: string;
  endpoint_id: string;
  event_type: string;
  status: 'pending' | 'succeeded' | 'dead';
  attempts: number;
  next_attempt_at: Date | null;
  last_status: number | null;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
  succeeded_at: Date | null;
}

const DELIVERY = sql.raw(`d.id, d.event_id, d.endpoint_id, e.type as event_type, d.status, d.attempts,
  d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.updated_at, d.succeeded_at`);

export async function findDelivery(
  db: TenantDb,
  org: string,
  id: string,
  opts: { forUpdate?: boolean } = {},
): Promise<(DeliveryRow & { payload: unknown }) | undefined> {
  const lock = opts.forUpdate ? sql` for update of d` : sql``;
  const res = await sql<DeliveryRow & { payload: unknown }>`select ${DELIVERY}, e.payload
    from webhook_deliveries d
    join webhook_events e on e.organization_id = d.organization_id and e.id = d.event_id
    where d.organization_id = ${org} and d.id = ${id}${lock}`.execute(db);
  return res.rows[0];
}

/** An endpoint's deliveries, newest first, strictly older than `before` when given (`limit + 1` rows). */
export async function listDeliveries(
  db: TenantDb,
  org: string,
  endpointId: string,
  opts: { before?: string; limit: number },
): Promise<DeliveryRow[]> {
  const before = opts.before ? sql` and d.id < ${opts.before}` : sql``;
  const res = await sql<DeliveryRow>`select ${DELIVERY} from webhook_deliveries d
    join webhook_events e on e.organization_id = d.organization_id and e.id = d.event_id
    where d.organization_id = ${org} and d.endpoint_id = ${endpointId}${before}
    order by d.id desc limit ${opts.limit + 1}`.execute(db);
  return res.rows;
}

export interface AttemptRow {
  delivery_id: string;
  attempt: number;
  trigger: 'automatic' | 'manual';
  started_at: Date;
  duration_ms: number;
  response_status: number | null;
  response_body: string | null;
  error: string | null;
}

/** The attempts of some deliveries (at most the last 20 of each), oldest first. */
export async function attemptsOf(db: TenantDb, org: string, deliveryIds: string[]): Promise<AttemptRow[]> {
  if (deliveryIds.length === 0) return [];
  const res = await sql<AttemptRow>`select delivery_id, attempt, trigger, started_at, duration_ms,
      response_status, response_body, error from (
      select a.*, row_number() over (partition by a.delivery_id order by a.attempt desc) as n
      from webhook_delivery_attempts a
      where a.organization_id = ${org} and a.delivery_id = any(${deliveryIds}::uuid[])) x
    where n <= 20 order by delivery_id, attempt`.execute(db);
  return res.rows;
}

/** Appends an attempt to a delivery's log (the caller holds the delivery's row lock); returns its number. */
export async function insertAttempt(
  db: TenantDb,
  org: string,
  row: {
    id: string;
    deliveryId: string;
    trigger: 'automatic' | 'manual';
    startedAt: Date;
    durationMs: number;
    status: number | null;
    body: string | null;
    error: string | null;
  },
): Promise<number> {
  const res = await sql<{ attempt: number }>`insert into webhook_delivery_attempts (organization_id, id,
      delivery_id, attempt, trigger, started_at, duration_ms, response_status, response_body, error)
    select ${org}, ${row.id}, ${row.deliveryId},
      coalesce((select max(a.attempt) from webhook_delivery_attempts a
                where a.organization_id = ${org} and a.delivery_id = ${row.deliveryId}), 0) + 1,
      ${row.trigger}, ${row.startedAt}, ${row.durationMs}, ${row.status}, ${row.body}, ${row.error}
    returning attempt`.execute(db);
  return res.rows[0]!.attempt;
}

export async function setDeliveryState(
  db: TenantDb,
  org: string,
  id: string,
  state: {
    status: 'pending' | 'succeeded' | 'dead';
    attempts?: number;
    nextAttemptAt: Date | null;
    lastStatus?: number | null;
    lastError?: string | null;
  },
): Promise<void> {
  const attempts = state.attempts ?? null;
  const touchResult = state.lastStatus !== undefined || state.lastError !== undefined;
  await sql`update webhook_deliveries set
      status = ${state.status},
      attempts = coalesce(${attempts}::int, attempts),
      next_attempt_at = ${state.nextAttemptAt},
      last_status = case when ${touchResult} then ${state.lastStatus ?? null}::int else last_status end,
      last_error = case when ${touchResult} then ${state.lastError ?? null}::text else last_error end,
      succeeded_at = case when ${state.status} = 'succeeded' then now() else succeeded_at end,
      updated_at = now()
    where organization_id = ${org} and id = ${id}`.execute(db);
}

/** After a failed attempt: since when the endpoint fails (set now if it was not failing). */
export async function markEndpointFailing(db: TenantDb, org: string, id: string): Promise<Date | null> {
  const res = await sql<{ failing_since: Date }>`update webhook_endpoints
    set failing_since = coalesce(failing_since, now())
    where organization_id = ${org} and id = ${id} returning failing_since`.execute(db);
  return res.rows[0]?.failing_since ?? null;
}

export async function markEndpointHealthy(db: TenantDb, org: string, id: string): Promise<void> {
  await sql`update webhook_endpoints set failing_since = null
    where organization_id = ${org} and id = ${id} and failing_since is not null`.execute(db);
}

/** Disables an endpoint for failing; false when it was not enabled any more. */
export async function disableForFailing(db: TenantDb, org: string, id: string): Promise<boolean> {
  const res = await sql`update webhook_endpoints
    set enabled = false, disabled_reason = 'failing', updated_at = now()
    where organization_id = ${org} and id = ${id} and enabled`.execute(db);
  return Number(res.numAffectedRows ?? 0) > 0;
}

/** The organization's name and slug and its active owners' addresses (at most 100). */
export async function ownersToMail(
  db: TenantDb,
  org: string,
): Promise<{ name: string; slug: string; owners: { userId: string; email: string }[] }> {
  const o = await sql<{ name: string; slug: string }>`select name, slug from organizations
    where id = ${org}`.execute(db);
  const owners = await sql<{ userId: string; email: string }>`select u.id as "userId", u.email
    from memberships m join users u on u.id = m.user_id
    where m.organization_id = ${org} and m.role = 'owner' and m.status = 'active'
    order by u.id limit 100`.execute(db);
  return { name: o.rows[0]?.name ?? '', slug: o.rows[0]?.slug ?? '', owners: owners.rows };
}
