import { TenancyError } from './errors.js';
import type { PreludeStatement } from './pipelined-query.js';
import { SET_TENANT_READ_ONLY } from './pooled-setter.js';
import { createReadQualifier } from './schema-qualifier.js';
import type { TenantMode, TenantSetter } from './tenant-connection.js';

const SET_TENANT_SCHEMA = "select set_config('app.tenant_id', $1, true), set_config('search_path', $2, true)";
const SET_TENANT_SCHEMA_READ_ONLY =
  "select set_config('app.tenant_id', $1, true), set_config('search_path', $2, true), " +
  "set_config('transaction_read_only', 'on', true)";

/**
 * A `schema` placement on the control database: the tenant AND the search path `"t_…", public`, both
 * transaction-local, in ONE prelude statement (the same round trip as the first query, like the pooled
 * setter's; no statement of its own). Unqualified names then resolve to the organization's schema for
 * placed tables and to `public` for everything else; the connection goes back to the pool with neither.
 * Its statements have their own names: a connection prepares both setters' once and binds either.
 *
 * One setter per schema-placed organization, built with its placement (placement.ts): the preludes are
 * built here once, so a scope allocates nothing more than a pooled one.
 *
 * Given the tables the schema holds (`tables`, read from its catalog with the placement), a read scope's
 * reads that can name them themselves do so and skip the search path (schema-qualifier.ts).
 */
export function schemaTenantSetter(orgId: string, schema: string, tables?: readonly string[]): TenantSetter {
  const path = `"${schema}", public`;
  const write: readonly PreludeStatement[] = [
    { name: 'sr_set_tenant_schema', text: SET_TENANT_SCHEMA, values: [orgId, path] },
  ];
  const read: readonly PreludeStatement[] = [
    { name: 'sr_set_tenant_schema_ro', text: SET_TENANT_SCHEMA_READ_ONLY, values: [orgId, path] },
  ];
  // A qualified read's prelude: the pooled setter's read prelude, text and name (one statement per connection).
  const qualifiedRead: readonly PreludeStatement[] = [
    { name: 'sr_set_tenant_ro', text: SET_TENANT_READ_ONLY, values: [orgId] },
  ];
  // Never reached through withTenant (it routes by tenant): a guard against wiring mistakes.
  const guard = (tenantId: string) => {
    if (tenantId !== orgId) {
      throw new TenancyError('TENANT_SCOPE_CONFLICT', 'schema placement used for another tenant');
    }
  };
  return {
    statementNamespace: schema,
    ...(tables === undefined
      ? {}
      : {
          readQualifier: createReadQualifier(schema, tables),
          qualifiedReadPrelude(tenantId: string): readonly PreludeStatement[] {
            guard(tenantId);
            return qualifiedRead;
          },
        }),
    prelude(tenantId: string, mode: TenantMode): readonly PreludeStatement[] {
      guard(tenantId);
      return mode === 'read' ? read : write;
    },
  };
}
