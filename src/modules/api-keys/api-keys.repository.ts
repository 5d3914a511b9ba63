import { sql, type Insertable, type Selectable } from 'kysely';
import type { ApiKeysTable } from '../../platform/db/schema.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

export type ApiKeyRow = Selectable<ApiKeysTable>;
/** A row without its secret hash: everything listing and showing a key needs. */
export type ApiKeyView = Omit<ApiKeyRow, 'secret_hash'>;

// Every query filters by organization_id explicitly: RLS is the backstop, and on Citus only an explicit
// filter routes a query to one shard. Reads never select secret_hash.
const VIEW = [
  'organization_id',
  'id',
  'key_id',
  'name',
  'scopes',
  'created_by_user_id',
  'created_by_key_id',
  'rate_limit_per_minute',
  'created_at',
  'expires_at',
  'revoked_at',
  'last_used_at',
] as const;

/**
 * Inserts a key of the current tenant; undefined when its key id is taken (the caller draws another).
 * The key id is claimed first in `api_key_lookup` (migration 0047), the global lookup authentication
 * finds the organization by, in the same transaction: its primary key is what keeps key ids unique
 * across organizations (the tenant table's key is `(organization_id, key_id)`, distributable on Citus).
 */
export async function insertApiKey(
  db: TenantDb,
  row: Insertable<ApiKeysTable>,
): Promise<ApiKeyView | undefined> {
  const claimed = await db
    .insertInto('api_key_lookup')
    .values({ key_id: row.key_id, organization_id: row.organization_id, api_key_id: row.id })
    .onConflict((oc) => oc.column('key_id').doNothing())
    .returning('key_id')
    .executeTakeFirst();
  if (!claimed) return undefined;
  return db.insertInto('api_keys').values(row).returning(VIEW).executeTakeFirstOrThrow();
}

/** One key by id, or undefined. */
export function findApiKey(db: TenantDb, tenantId: string, id: string): Promise<ApiKeyView | undefined> {
  return db
    .selectFrom('api_keys')
    .select(VIEW)
    .where('organization_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
}

/** Keys newest first, strictly older than `before` (a key id) when given. */
export function listApiKeys(
  db: TenantDb,
  tenantId: string,
  opts: { before?: string; limit: number },
): Promise<ApiKeyView[]> {
  let q = db.selectFrom('api_keys').select(VIEW).where('organization_id', '=', tenantId);
  if (opts.before) q = q.where('id', '<', opts.before);
  return q.orderBy('id', 'desc').limit(opts.limit).execute();
}

/**
 * Marks a key revoked. Returns the key as it was before (undefined when there is no such key); a key
 * revoked already keeps its first `revoked_at`.
 */
export async function revokeApiKey(
  db: TenantDb,
  tenantId: string,
  id: string,
): Promise<{ before: ApiKeyView; after: ApiKeyView } | undefined> {
  const before = await db
    .selectFrom('api_keys')
    .select(VIEW)
    .where('organization_id', '=', tenantId)
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirst();
  if (!before) return undefined;
  if (before.revoked_at) return { before, after: before };
  const after = await db
    .updateTable('api_keys')
    .set({ revoked_at: sql<Date>`now()` })
    .where('organization_id', '=', tenantId)
    .where('id', '=', id)
    .returning(VIEW)
    .executeTakeFirstOrThrow();
  return { before, after };
}

/**
 * Moves `last_used_at` forward for several keys of one organization in one statement (never backward:
 * batches from several instances may arrive out of order).
 */
export async function touchLastUsed(
  db: TenantDb,
  tenantId: string,
  uses: readonly { id: string; at: Date }[],
): Promise<void> {
  if (uses.length === 0) return;
  await sql`update api_keys k set last_used_at = greatest(k.last_used_at, u.at)
    from unnest(${uses.map((u) => u.id)}::uuid[], ${uses.map((u) => u.at)}::timestamptz[]) as u(id, at)
    where k.organization_id = ${tenantId} and k.id = u.id`.execute(db);
}
