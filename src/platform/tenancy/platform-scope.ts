import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { TenancyError } from './errors.js';
import { scopeStorage } from './tenant-database.js';

declare const platformScoped: unique symbol;

/** The transaction of a platform scope: what platform-only privileged operations take. */
export type PlatformScope = Transaction<Database> & { readonly [platformScoped]: true };

/**
 * Runs `fn` in the platform scope of the administrator whose browser session presented `sessionToken`
 * (the RAW token of the request's `sr_session` cookie: platform routes are session-only): one transaction
 * on the platform database (no tenant) with `app.platform_session` set transaction-locally, as a bind
 * parameter (so no statement text, log line or `pg_stat_activity` row shows it). The platform definer
 * functions (`app_priv_platform_organizations`, `app_platform_audit_append`) answer only there: they
 * refuse when a tenant is set, and unless the SHA-256 of that token is a live, unrevoked, unexpired
 * session of a platform administrator (past its second factor if the administrator has one). The runtime
 * role can read session hashes but no token, so not even SQL injected as the runtime role can forge the
 * scope. A `withTenant` scope cannot enter it: this throws inside one, and the database refuses whenever
 * `app.tenant_id` is set.
 */
export async function withPlatformScope<T>(
  db: Kysely<Database>,
  sessionToken: string,
  fn: (scope: PlatformScope) => Promise<T>,
): Promise<T> {
  if (scopeStorage.getStore()) {
    throw new TenancyError(
      'TENANT_SCOPE_CONFLICT',
      'a platform scope cannot be opened inside a tenant scope',
    );
  }
  if (typeof sessionToken !== 'string' || sessionToken.length === 0 || sessionToken.length > 512) {
    throw new TenancyError(
      'INVALID_PLATFORM_ACTOR',
      'a platform scope needs the session token of its administrator',
    );
  }
  return db.transaction().execute(async (trx) => {
    await sql`select set_config('app.platform_session', ${sessionToken}, true)`.execute(trx);
    return fn(trx as PlatformScope);
  });
}
