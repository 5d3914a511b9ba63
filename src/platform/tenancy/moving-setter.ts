import { TenancyError } from './errors.js';
import type { PreludeStatement } from './pipelined-query.js';
import type { TenantMode, TenantSetter } from './tenant-connection.js';

const ENTER = 'select app_enter_moving_tenant($1, $2)';
const ENTER_PLACED = 'select app_enter_moving_placed($1, $2)';

/**
 * The guarded path of an organization whose placement is `moving` (an online move, migration 0040):
 * the prelude calls `app_enter_moving_tenant`, which sets the tenant, takes the organization's move
 * lock SHARED, and only THEN reads its placement and sets the search path, all transaction-locally. The
 * switch takes the lock exclusively: a transaction of the organization started during the freeze waits
 * for it and then runs on the new placement; one that started before holds the switch off until it ends.
 * Its reads run as one read-only transaction (`transactionalReads`): every statement of a read scope
 * runs under the one lock and the one search path, never half on the source and half on the target.
 * Only moving organizations take this path (placement.ts): the others never touch the lock.
 */
export function movingTenantSetter(orgId: string): TenantSetter {
  return guardedSetter(orgId, 'sr_enter_moving', ENTER);
}

/**
 * The guarded path on a TENANT database, of a `database` organization that is `moving` (migration 0078):
 * `app_enter_moving_placed` sets the tenant, takes the organization's move lock of that database SHARED,
 * then reads its latest move record there without waiting: a move that left the database (or a prepared
 * part of one deciding) refuses with SRM01, and `withTenant` routes the scope again.
 */
export function movingPlacedTenantSetter(orgId: string): TenantSetter {
  return guardedSetter(orgId, 'sr_enter_moving_placed', ENTER_PLACED);
}

function guardedSetter(orgId: string, name: string, text: string): TenantSetter {
  // Prelude values go to the wire as they are (no conversion): text only.
  const write: readonly PreludeStatement[] = [{ name, text, values: [orgId, 'f'] }];
  const read: readonly PreludeStatement[] = [{ name, text, values: [orgId, 't'] }];
  return {
    transactionalReads: true,
    prelude(tenantId: string, mode: TenantMode): readonly PreludeStatement[] {
      if (tenantId !== orgId) {
        throw new TenancyError('TENANT_SCOPE_CONFLICT', 'moving placement used for another tenant');
      }
      return mode === 'read' ? read : write;
    },
  };
}
