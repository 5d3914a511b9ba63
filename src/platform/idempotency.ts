import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { TenantDb } from './tenancy/tenant-database.js';
import { AppError } from './errors.js';

/** How long a key is remembered. After that the same key starts a new request. */
export const IDEMPOTENCY_TTL_HOURS = 24;
const KEY_RE = /^[\x21-\x7e]{1,255}$/;

export class IdempotencyError extends AppError<'IDEMPOTENCY_KEY_INVALID' | 'IDEMPOTENCY_KEY_REUSED'> {}

/** Stable hash of a request body, for detecting a key reused with a different request. */
export function requestHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

/** Validates an `Idempotency-Key` header value. */
export function parseIdempotencyKey(raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !KEY_RE.test(raw)) {
    throw new IdempotencyError(
      'IDEMPOTENCY_KEY_INVALID',
      'Idempotency-Key must be 1-255 visible ASCII characters',
      400,
    );
  }
  return raw;
}

/**
 * Runs `create` at most once per (tenant, scope, key), inside the caller's tenant transaction so the
 * key and the created resource commit or roll back together. A retry with the same key and request
 * gets the stored result (`replayed: true`); a concurrent retry waits for the first to finish; the same
 * key with a different request is refused.
 */
export async function withIdempotency<R>(
  db: TenantDb,
  tenantId: string,
  opts: { scope: string; key: string; hash: string },
  create: () => Promise<R>,
): Promise<{ result: R; replayed: boolean }> {
  await db
    .deleteFrom('idempotency_keys')
    .where('organization_id', '=', tenantId)
    .where('scope', '=', opts.scope)
    .where('key', '=', opts.key)
    .where('created_at', '<', sql<Date>`now() - make_interval(hours => ${IDEMPOTENCY_TTL_HOURS})`)
    .execute();
  const claimed = await db
    .insertInto('idempotency_keys')
    .values({
      organization_id: tenantId,
      scope: opts.scope,
      key: opts.key,
      request_hash: opts.hash,
      response: 'null',
    })
    .onConflict((oc) => oc.doNothing())
    .returning('key')
    .executeTakeFirst();
  if (!claimed) {
    const prior = await db
      .selectFrom('idempotency_keys')
      .select(['request_hash', 'response'])
      .where('organization_id', '=', tenantId)
      .where('scope', '=', opts.scope)
      .where('key', '=', opts.key)
      .executeTakeFirstOrThrow();
    if (prior.request_hash !== opts.hash) {
      throw new IdempotencyError(
        'IDEMPOTENCY_KEY_REUSED',
        'this Idempotency-Key was already used with a different request',
        422,
      );
    }
    return { result: prior.response as R, replayed: true };
  }
  const result = await create();
  await db
    .updateTable('idempotency_keys')
    .set({ response: JSON.stringify(result) })
    .where('organization_id', '=', tenantId)
    .where('scope', '=', opts.scope)
    .where('key', '=', opts.key)
    .execute();
  return { result, replayed: false };
}
