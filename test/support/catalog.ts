/**
 * Schemas the runtime role can reach (USAGE, its own or PUBLIC's), system schemas aside: the scope of the
 * catalog and fail-closed tests (ISOLATION.md invariant 9). `$1` is the runtime role's name.
 */
export const REACHABLE_SCHEMAS = `select n.oid from pg_namespace n
  where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
    and has_schema_privilege($1, n.oid, 'USAGE')`;

/**
 * The oids of the relations (tables, views, foreign tables) of those schemas that the runtime role holds
 * any privilege on, table- or column-level. `$1` is the runtime role's name.
 */
export const REACHABLE_RELATIONS = `select c.oid from pg_class c
  where c.relnamespace in (${REACHABLE_SCHEMAS}) and c.relkind in ('r', 'p', 'v', 'm', 'f')
    and (has_table_privilege($1, c.oid, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER')
         or has_any_column_privilege($1, c.oid, 'SELECT,INSERT,UPDATE,REFERENCES'))`;
