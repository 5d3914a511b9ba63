/**
 * Schemas the runtime role can reach (USAGE, its own or PUBLIC's), system schemas aside: the scope of the
 * catalog and fail-closed tests (ISOLATION.md invariant 9). `$1` is the runtime role's name.
 */
export const REACHABLE_SCHEMAS = `select n.oid from pg_namespace n
  where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
    and has_schema_privilege($1, n.oid, 'USAGE')`;
