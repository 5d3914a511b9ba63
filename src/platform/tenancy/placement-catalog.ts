import type pg from 'pg';

/**
 * What `syncPlacementSchema` compares: the shape of every table of one schema, read from the catalog.
 * Read with `search_path = pg_catalog` (the caller's transaction sets it), so every name the deparsers
 * print (`pg_get_constraintdef`, `pg_get_indexdef`, `pg_get_expr`, ...) is schema-qualified: a definition
 * read from `public` is re-targeted by replacing `public.<placed table>` and compared, as text, with the
 * same definition read from the organization's schema.
 */
export interface ColumnShape {
  readonly name: string;
  readonly type: string;
  /** Qualified collation when it is not the type's default. */
  readonly collation: string | null;
  readonly notNull: boolean;
  /** '' | 's' (stored) | 'v' (virtual) */
  readonly generated: string;
  /** '' | 'a' (always) | 'd' (by default) */
  readonly identity: string;
  /** The default, or the generation expression of a generated column. */
  readonly expr: string | null;
}

export interface TableShape {
  readonly name: string;
  readonly partitioned: boolean;
  /** The parent's name when this is a partition. */
  readonly parent: string | null;
  /** `FOR VALUES ...` of a partition. */
  readonly bound: string | null;
  /** `RANGE (occurred_at)` of a partitioned table. */
  readonly partitionKey: string | null;
  readonly rls: boolean;
  readonly forced: boolean;
  readonly columns: ColumnShape[];
  /** Name → definition (primary key, unique, check, exclusion, foreign key; not the inherited ones). */
  readonly constraints: Map<string, { readonly type: string; readonly def: string }>;
  /** Name → definition, the indexes that back no constraint. */
  readonly indexes: Map<string, string>;
  /** Name → definition and `tgenabled` (O, D, R, A), user triggers not cloned from a parent. */
  readonly triggers: Map<string, { readonly def: string; readonly enabled: string }>;
  /** Name → the policy's clauses after `ON <table>`. */
  readonly policies: Map<string, string>;
  /** `grantee privilege grantable` of the table's ACL (the owner's implicit one included). */
  readonly acl: Set<string>;
  /** `column grantee privilege grantable` of the column ACLs. */
  readonly columnAcl: Set<string>;
}

const RELATIONS = `select c.relname::text as name, c.relname::text as rel, c.relkind = 'p' as partitioned,
    (select p.relname::text from pg_inherits i join pg_class p on p.oid = i.inhparent where i.inhrelid = c.oid
      and c.relispartition) as parent,
    pg_get_expr(c.relpartbound, c.oid) as bound,
    case when c.relkind = 'p' then pg_get_partkeydef(c.oid) end as partition_key,
    c.relrowsecurity as rls, c.relforcerowsecurity as forced
  from pg_class c where c.relnamespace = $1::regnamespace and c.relkind in ('r', 'p')`;

const COLUMNS = `select c.relname::text as rel, a.attname::text as name,
    format_type(a.atttypid, a.atttypmod) as type,
    case when a.attcollation <> t.typcollation then quote_ident(cn.nspname) || '.' || quote_ident(co.collname)
    end as collation,
    a.attnotnull as not_null, a.attgenerated::text as generated, a.attidentity::text as identity,
    pg_get_expr(d.adbin, d.adrelid) as expr
  from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_type t on t.oid = a.atttypid
  left join pg_collation co on co.oid = a.attcollation left join pg_namespace cn on cn.oid = co.collnamespace
  left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
  where c.relnamespace = $1::regnamespace and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
  order by c.relname, a.attnum`;

const CONSTRAINTS = `select c.relname::text as rel, k.conname::text as name, k.contype::text as type,
    pg_get_constraintdef(k.oid) as def
  from pg_constraint k join pg_class c on c.oid = k.conrelid
  where c.relnamespace = $1::regnamespace and k.contype in ('p', 'u', 'c', 'f', 'x') and k.conparentid = 0
    and k.conislocal`;

const INDEXES = `select c.relname::text as rel, i.relname::text as name, pg_get_indexdef(x.indexrelid) as def
  from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class c on c.oid = x.indrelid
  where c.relnamespace = $1::regnamespace and not c.relispartition
    and not exists (select 1 from pg_constraint k where k.conindid = x.indexrelid and k.conrelid = x.indrelid
                      and k.contype in ('p', 'u', 'x'))`;

const TRIGGERS = `select c.relname::text as rel, t.tgname::text as name, pg_get_triggerdef(t.oid) as def,
    t.tgenabled::text as enabled
  from pg_trigger t join pg_class c on c.oid = t.tgrelid
  where c.relnamespace = $1::regnamespace and not t.tgisinternal and t.tgparentid = 0`;

const POLICIES = `select c.relname::text as rel, p.polname::text as name,
    'as ' || case when p.polpermissive then 'permissive' else 'restrictive' end
    || ' for ' || case p.polcmd when 'r' then 'select' when 'a' then 'insert' when 'w' then 'update'
                               when 'd' then 'delete' else 'all' end
    || ' to ' || (select string_agg(case when r = 0 then 'public' else quote_ident(pg_get_userbyid(r)) end, ', '
                                    order by 1) from unnest(p.polroles) r)
    || coalesce(' using (' || pg_get_expr(p.polqual, p.polrelid) || ')', '')
    || coalesce(' with check (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')', '') as clauses
  from pg_policy p join pg_class c on c.oid = p.polrelid where c.relnamespace = $1::regnamespace`;

const GRANTEE = `case when x.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(x.grantee)) end`;

const ACL = `select c.relname::text as rel,
    ${GRANTEE} || ' ' || x.privilege_type || ' ' || x.is_grantable::text as entry
  from pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) x
  where c.relnamespace = $1::regnamespace and c.relkind in ('r', 'p')`;

const COLUMN_ACL = `select c.relname::text as rel,
    quote_ident(a.attname) || ' ' || ${GRANTEE} || ' ' || x.privilege_type || ' ' || x.is_grantable::text as entry
  from pg_attribute a join pg_class c on c.oid = a.attrelid, aclexplode(a.attacl) x
  where c.relnamespace = $1::regnamespace and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
    and a.attacl is not null`;

type Row<T> = T & { rel: string };

/**
 * Every ordinary and partitioned table of `schema` with its shape. The caller's transaction must have
 * `search_path = pg_catalog` (see above).
 */
export async function readSchemaShape(
  client: pg.ClientBase,
  schema: string,
): Promise<Map<string, TableShape>> {
  const q = async <T extends pg.QueryResultRow>(text: string) =>
    (await client.query<Row<T>>(text, [schema])).rows;
  const tables = new Map<string, TableShape>();
  for (const r of await q<{
    name: string;
    partitioned: boolean;
    parent: string | null;
    bound: string | null;
    partition_key: string | null;
    rls: boolean;
    forced: boolean;
  }>(RELATIONS)) {
    tables.set(r.name, {
      name: r.name,
      partitioned: r.partitioned,
      parent: r.parent,
      bound: r.bound,
      partitionKey: r.partition_key,
      rls: r.rls,
      forced: r.forced,
      columns: [],
      constraints: new Map(),
      indexes: new Map(),
      triggers: new Map(),
      policies: new Map(),
      acl: new Set(),
      columnAcl: new Set(),
    });
  }
  const each = async <T extends pg.QueryResultRow>(text: string, add: (t: TableShape, r: Row<T>) => void) => {
    for (const r of await q<T>(text)) {
      const t = tables.get(r.rel);
      if (t) add(t, r);
    }
  };
  await each<{
    name: string;
    type: string;
    collation: string | null;
    not_null: boolean;
    generated: string;
    identity: string;
    expr: string | null;
  }>(COLUMNS, (t, r) =>
    t.columns.push({
      name: r.name,
      type: r.type,
      collation: r.collation,
      notNull: r.not_null,
      generated: r.generated,
      identity: r.identity,
      expr: r.expr,
    }),
  );
  await each<{ name: string; type: string; def: string }>(CONSTRAINTS, (t, r) =>
    t.constraints.set(r.name, { type: r.type, def: r.def }),
  );
  await each<{ name: string; def: string }>(INDEXES, (t, r) => t.indexes.set(r.name, r.def));
  await each<{ name: string; def: string; enabled: string }>(TRIGGERS, (t, r) =>
    t.triggers.set(r.name, { def: r.def, enabled: r.enabled }),
  );
  await each<{ name: string; clauses: string }>(POLICIES, (t, r) => t.policies.set(r.name, r.clauses));
  await each<{ entry: string }>(ACL, (t, r) => t.acl.add(r.entry));
  await each<{ entry: string }>(COLUMN_ACL, (t, r) => t.columnAcl.add(r.entry));
  return tables;
}
