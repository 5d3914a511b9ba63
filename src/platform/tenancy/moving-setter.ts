import { TenancyError } from './errors.js';
import type { PreludeStatement } from './pipelined-query.js';
import type { TenantMode, TenantSetter } from './tenant-connection.js';

const ENTER = 'select app_enter_moving_tenant($1, $2)';

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
  // Prelude values go to the wire as they are (no conversion): text only.
  const write: readonly PreludeStatement[] = [{ name: 'sr_enter_moving', text: ENTER, values: [orgId, 'f'] }];
  const read: readonly PreludeStatement[] = [{ name: 'sr_enter_moving', text: ENTER, values: [orgId, 't'] }];
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
