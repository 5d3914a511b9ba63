import type { PreludeStatement } from './pipelined-query.js';
import type { TenantMode, TenantSetter } from './tenant-connection.js';

const SET_TENANT = "select set_config('app.tenant_id', $1, true)";
/** The read prelude's text (a schema organization's qualified reads use it too: schema-setter.ts). */
export const SET_TENANT_READ_ONLY =
  "select set_config('app.tenant_id', $1, true), set_config('transaction_read_only', 'on', true)";

/**
 * Plain PostgreSQL: the tenant is a transaction-local setting, bound as a parameter of a statement
 * prepared once per connection. Read scopes are also made read-only.
 */
export const pooledTenantSetter: TenantSetter = {
  prelude(tenantId: string, mode: TenantMode): readonly PreludeStatement[] {
    return mode === 'read'
      ? [{ name: 'sr_set_tenant_ro', text: SET_TENANT_READ_ONLY, values: [tenantId] }]
      : [{ name: 'sr_set_tenant', text: SET_TENANT, values: [tenantId] }];
  },
};
