import { TenancyError } from './errors.js';
import type { PreludeStatement } from './pipelined-query.js';
import type { TenantMode, TenantSetter } from './tenant-connection.js';

/**
 * A canonical lowercase UUID, and nothing else: the only text ever inlined into a `SET LOCAL`.
 * (`$` without the `m` flag matches only at the very end in JavaScript: no trailing newline passes.)
 */
const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A schema placement's schema name (placed-tables.ts `tenantSchemaName`). */
const PLACEMENT_SCHEMA = /^t_[0-9a-f]{32}$/;

// Named like the pooled path's `sr_begin`: the same text on every connection, prepared once.
const BEGIN_READ_ONLY: PreludeStatement = { name: 'sr_begin_ro', text: 'begin read only', values: [] };
const COMMIT: PreludeStatement = { name: 'sr_commit', text: 'commit', values: [] };
const READ_EPILOGUE: readonly PreludeStatement[] = [COMMIT];

/**
 * `SET LOCAL app.tenant_id = '<uuid>'` for a validated tenant id. SET takes no bind parameter, so the id
 * is inlined as a literal: only a canonical lowercase UUID passes (anything else throws before any SQL
 * text exists). The UNNAMED statement: its text differs per tenant, and a named one would prepare one
 * statement per tenant on every connection.
 */
export function setLocalTenant(tenantId: string): PreludeStatement {
  if (typeof tenantId !== 'string' || !CANONICAL_UUID.test(tenantId)) {
    throw new TenancyError('INVALID_TENANT_ID', 'tenant id must be a canonical lowercase UUID');
  }
  return { name: '', text: `set local app.tenant_id = '${tenantId}'`, values: [] };
}

/**
 * Citus: `set_config('app.tenant_id', …, true)` never reaches the workers, so RLS there would see no
 * tenant (and return nothing); `SET LOCAL` inside an explicit transaction does (with
 * `citus.propagate_set_commands = 'local'`). So every scope is an explicit transaction with `SET LOCAL`
 * as its own message of the same extended-protocol pipeline (as one multi-statement string Citus
 * refuses it; outside BEGIN, SET LOCAL only warns):
 * - write scopes: BEGIN (the connection's), SET LOCAL, the first query; COMMIT or ROLLBACK at the end;
 * - reads: BEGIN READ ONLY, SET LOCAL, the query, COMMIT, one Sync: still one round trip per read, each
 *   its own transaction, as the implicit one of the pooled setter.
 */
export const citusTenantSetter: TenantSetter = {
  readEpilogue: READ_EPILOGUE,
  prelude(tenantId: string, mode: TenantMode): readonly PreludeStatement[] {
    const set = setLocalTenant(tenantId);
    return mode === 'read' ? [BEGIN_READ_ONLY, set] : [set];
  },
};

/**
 * A `schema` placement under the Citus setter: the tenant and then `SET LOCAL search_path = "t_…",
 * public`, each its own (unnamed) message, inside the scope's explicit transaction (schema-setter.ts
 * is the pooled form: both in one `set_config` statement). The statements are built once here, with
 * the placement.
 */
export function citusSchemaTenantSetter(orgId: string, schema: string): TenantSetter {
  if (!PLACEMENT_SCHEMA.test(schema)) {
    throw new TenancyError('PLACEMENT_UNSUPPORTED', 'not a placement schema name');
  }
  const set = setLocalTenant(orgId);
  const path: PreludeStatement = {
    name: '',
    text: `set local search_path = "${schema}", public`,
    values: [],
  };
  const write: readonly PreludeStatement[] = [set, path];
  const read: readonly PreludeStatement[] = [BEGIN_READ_ONLY, set, path];
  return {
    statementNamespace: schema,
    readEpilogue: READ_EPILOGUE,
    prelude(tenantId: string, mode: TenantMode): readonly PreludeStatement[] {
      if (tenantId !== orgId) {
        throw new TenancyError('TENANT_SCOPE_CONFLICT', 'schema placement used for another tenant');
      }
      return mode === 'read' ? read : write;
    },
  };
}

/**
 * Online placement moves are not supported under the Citus setter: their guarded path
 * (`app_enter_moving_tenant`, migration 0040) sets the tenant with `set_config` inside a function,
 * which the workers never see. Citus moves tenants itself (`isolate_tenant_to_new_shard`,
 * `citus_schema_distribute`, shard moves). The router refuses an organization marked `moving` with this.
 */
export function citusMoveRefusal(): TenancyError {
  return new TenancyError(
    'PLACEMENT_UNSUPPORTED',
    'online placement moves are not supported with the Citus tenant setter (TENANT_SETTER=citus): ' +
      'Citus places tenants itself (isolate_tenant_to_new_shard, citus_schema_distribute)',
  );
}
