import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { isTenantId } from './context.js';
import { TenancyError } from './errors.js';
import { scopeStorage } from './tenant-database.js';

declare const platformScoped: unique symbol;

/** The transaction of a platform scope: what platform-only privileged operations take. */
export type PlatformScope = Transaction<Database> & { readonly [platformScoped]: true };

/**
 * Runs `fn` in the platform scope of administrator `adminUserId`: one transaction on the platform database
 * (no tenant) with `app.platform_actor` set transaction-locally. The platform definer functions
 * (`app_priv_platform_organizations`, `app_platform_audit_append`) answer only there: they refuse when a
 * tenant is set and unless the actor is a platform administrator (`users.is_platform_admin`, which the
 * runtime role cannot write). A `withTenant` scope cannot enter it: this throws inside one, and the
 * database refuses whenever `app.tenant_id` is set.
 */
export async function withPlatformScope<T>(
  db: Kysely<Database>,
  adminUserId: string,
  fn: (scope: PlatformScope) => Promise<T>,
): Promise<T> {
  if (scopeStorage.getStore()) {
    throw new TenancyError(
      'TENANT_SCOPE_CONFLICT',
      'a platform scope cannot be opened inside a tenant scope',
    );
  }
  if (!isTenantId(adminUserId)) {
    throw new TenancyError('INVALID_PLATFORM_ACTOR', 'a platform scope needs a canonical user id');
  }
  return db.transaction().execute(async (trx) => {
    await sql`select set_config('app.platform_actor', ${adminUserId}, true)`.execute(trx);
    return fn(trx as PlatformScope);
  });
}
