import { sql } from 'kysely';
import type { TenantDb } from '../../../platform/tenancy/tenant-database.js';

// Raw SQL over the tables of migration 0056; every query filters by organization_id explicitly (RLS is the
// backstop, and on Citus only an explicit filter routes a query to one shard).

export interface PendingRequest {
  request_id: string;
  connection_id: string;
  flow_id: string | null;
  return_to: string;
  created_at: Date;
  expires_at: Date;
}

export async function insertPendingRequest(
  db: TenantDb,
  org: string,
  row: { requestId: string; connectionId: string; flowId: string | null; returnTo: string; ttlMs: number },
): Promise<void> {
  await sql`insert into saml_pending_requests (organization_id, request_id, connection_id, flow_id, return_to,
      expires_at)
    values (${org}, ${row.requestId}, ${row.connectionId}, ${row.flowId}, ${row.returnTo},
      now() + make_interval(secs => ${row.ttlMs / 1000}))`.execute(db);
}

/** The connection's pending request `requestId`, if it has not expired. */
export async function findPendingRequest(
  db: TenantDb,
  org: string,
  connectionId: string,
  requestId: string,
): Promise<PendingRequest | undefined> {
  const res =
    await sql<PendingRequest>`select request_id, connection_id, flow_id, return_to, created_at, expires_at
    from saml_pending_requests
    where organization_id = ${org} and request_id = ${requestId} and connection_id = ${connectionId}
      and expires_at > now()`.execute(db);
  return res.rows[0];
}

/** Removes the request (consumed or refused); the row removed, if there was one of this connection. */
export async function deletePendingRequest(
  db: TenantDb,
  org: string,
  connectionId: string,
  requestId: string,
): Promise<PendingRequest | undefined> {
  const res = await sql<PendingRequest>`delete from saml_pending_requests
    where organization_id = ${org} and request_id = ${requestId} and connection_id = ${connectionId}
    returning request_id, connection_id, flow_id, return_to, created_at, expires_at`.execute(db);
  return res.rows[0];
}

/**
 * Records an accepted assertion id until `expiresAt`; false when the id is already recorded and not yet
 * expired (a replay). An expired row of the same id is replaced: the time checks refuse its assertion.
 */
export async function recordAssertion(
  db: TenantDb,
  org: string,
  row: { assertionId: string; connectionId: string; expiresAt: Date },
): Promise<boolean> {
  await sql`delete from saml_assertion_replays
    where organization_id = ${org} and assertion_id = ${row.assertionId} and expires_at <= now()`.execute(db);
  const res =
    await sql`insert into saml_assertion_replays (organization_id, assertion_id, connection_id, expires_at)
    values (${org}, ${row.assertionId}, ${row.connectionId}, ${row.expiresAt})
    on conflict (organization_id, assertion_id) do nothing`.execute(db);
  return (res.numAffectedRows ?? 0n) > 0n;
}

/** Removes the organization's expired pending requests and replay entries (a few per sign-in at most). */
export async function purgeExpired(db: TenantDb, org: string): Promise<void> {
  await sql`delete from saml_pending_requests where organization_id = ${org} and expires_at <= now()`.execute(
    db,
  );
  await sql`delete from saml_assertion_replays where organization_id = ${org} and expires_at <= now()`.execute(
    db,
  );
}
