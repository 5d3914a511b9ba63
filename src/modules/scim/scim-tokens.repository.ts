import { sql, type Selectable } from 'kysely';
import type { ScimEventsTable, ScimTokensTable } from '../../platform/db/schema.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

// Every query filters by organization_id explicitly: RLS is the backstop, and on Citus only an explicit
// filter routes a query to one shard.

export type ScimTokenRow = Selectable<ScimTokensTable>;
export type ScimEventRow = Selectable<ScimEventsTable>;

/**
 * Inserts a token and claims its id in `scim_token_lookup` (with the secret's hash), in the caller's
 * transaction; false when the token id is taken (the caller draws another).
 */
export async function insertScimToken(
  db: TenantDb,
  row: { organization_id: string; id: string; token_id: string; created_by_user_id: string | null },
  secretHash: Buffer,
): Promise<ScimTokenRow | undefined> {
  const claimed = await db
    .insertInto('scim_token_lookup')
    .values({
      token_id: row.token_id,
      organization_id: row.organization_id,
      scim_token_id: row.id,
      secret_hash: secretHash,
    })
    .onConflict((oc) => oc.column('token_id').doNothing())
    .returning('token_id')
    .executeTakeFirst();
  if (!claimed) return undefined;
  return db.insertInto('scim_tokens').values(row).returningAll().executeTakeFirstOrThrow();
}

/** The organization's live (not revoked) tokens, locked. */
export function liveScimTokens(db: TenantDb, orgId: string): Promise<ScimTokenRow[]> {
  return db
    .selectFrom('scim_tokens')
    .selectAll()
    .where('organization_id', '=', orgId)
    .where('revoked_at', 'is', null)
    .forUpdate()
    .execute();
}

/** Revokes a token: marks it and deletes its lookup row (the token stops resolving at once). */
export async function revokeScimToken(db: TenantDb, orgId: string, id: string): Promise<void> {
  await db
    .deleteFrom('scim_token_lookup')
    .where('organization_id', '=', orgId)
    .where('scim_token_id', '=', id)
    .execute();
  await db
    .updateTable('scim_tokens')
    .set({ revoked_at: sql<Date>`now()` })
    .where('organization_id', '=', orgId)
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .execute();
}

export function findScimToken(db: TenantDb, orgId: string, id: string): Promise<ScimTokenRow | undefined> {
  return db
    .selectFrom('scim_tokens')
    .selectAll()
    .where('organization_id', '=', orgId)
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirst();
}

/** Tokens newest first, strictly older than `before` when given. */
export function listScimTokens(
  db: TenantDb,
  orgId: string,
  opts: { before?: string; limit: number },
): Promise<ScimTokenRow[]> {
  let q = db.selectFrom('scim_tokens').selectAll().where('organization_id', '=', orgId);
  if (opts.before) q = q.where('id', '<', opts.before);
  return q.orderBy('id', 'desc').limit(opts.limit).execute();
}

/** Moves `last_used_at` forward (never back). */
export async function touchScimToken(db: TenantDb, orgId: string, id: string): Promise<void> {
  await db
    .updateTable('scim_tokens')
    .set({ last_used_at: sql<Date>`greatest(last_used_at, now())` })
    .where('organization_id', '=', orgId)
    .where('id', '=', id)
    .execute();
}

export async function insertScimEvent(db: TenantDb, row: Omit<ScimEventRow, 'at'>): Promise<void> {
  await db.insertInto('scim_events').values(row).execute();
}

/** Sync log entries newest first, strictly older than `before` (an id) when given. */
export function listScimEvents(
  db: TenantDb,
  orgId: string,
  opts: { before?: string; limit: number },
): Promise<ScimEventRow[]> {
  let q = db.selectFrom('scim_events').selectAll().where('organization_id', '=', orgId);
  if (opts.before) q = q.where('id', '<', opts.before);
  return q.orderBy('id', 'desc').limit(opts.limit).execute();
}
