import {
  CITUS_LOCAL_TABLES,
  CITUS_REFERENCE_TABLES,
  readCitusCatalog,
  type CitusLists,
  type CitusTableKind,
  type Queryable,
} from './citus-tables.js';

const DECLARED: CitusLists = { reference: CITUS_REFERENCE_TABLES, local: CITUS_LOCAL_TABLES };

/** Unique indexes (primary keys and unique constraints included) of public's tables, with their leading
 *  column (null when it is an expression). Partitioned tables' own indexes, never their partitions'. */
const UNIQUE_INDEXES_SQL = `select c.relname::text as "table", x.relname::text as "index", a.attname::text as "lead"
   from pg_catalog.pg_index i
   join pg_catalog.pg_class c on c.oid = i.indrelid
   join pg_catalog.pg_class x on x.oid = i.indexrelid
   left join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum = i.indkey[0] and i.indkey[0] <> 0
  where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relispartition
    and i.indisunique
  order by 1, 2`;

/** Foreign keys and exclusion constraints with a table of public on either side (a partition's copies
 *  aside), each side's schema and its leading column. */
const CONSTRAINTS_SQL = `select k.conname::text as "name", k.contype::text as "type",
        sn.nspname::text as "fromSchema", s.relname::text as "from", sa.attname::text as "fromLead",
        tn.nspname::text as "toSchema", t.relname::text as "to", ta.attname::text as "toLead"
   from pg_catalog.pg_constraint k
   join pg_catalog.pg_class s on s.oid = k.conrelid
   join pg_catalog.pg_namespace sn on sn.oid = s.relnamespace
   left join pg_catalog.pg_attribute sa on sa.attrelid = s.oid and sa.attnum = k.conkey[1]
   left join pg_catalog.pg_class t on t.oid = k.confrelid
   left join pg_catalog.pg_namespace tn on tn.oid = t.relnamespace
   left join pg_catalog.pg_attribute ta on ta.attrelid = t.oid and ta.attnum = k.confkey[1]
  where k.contype in ('f', 'x') and k.conparentid = 0 and not s.relispartition
    and (s.relnamespace = 'public'::regnamespace or t.relnamespace = 'public'::regnamespace)
  order by 3, 4, 1`;

/** Row-level security policies anywhere in the database whose USING or WITH CHECK holds a sub-select:
 *  Citus refuses them on distributed tables, and the one policy form must stay the same everywhere. */
const SUBSELECT_POLICIES_SQL = `select p.polrelid::regclass::text as "table", p.polname::text as "policy"
   from pg_catalog.pg_policy p
  where coalesce(p.polqual::text, '') like '%{SUBLINK %' or coalesce(p.polwithcheck::text, '') like '%{SUBLINK %'
  order by 1, 2`;

/**
 * What keeps the schema from being distributed on Citus as `citus-tables.ts` classifies it, read from the
 * catalog (pg_class, pg_index, pg_constraint, pg_policy), so a table or key added later is checked too:
 * - a distributed table's unique index (primary key and unique constraints included), exclusion constraint
 *   or foreign key not LEADING with organization_id (a foreign key to a reference table needs none; one to
 *   another distributed table must lead with organization_id on both sides, so the rows are colocated);
 * - a foreign key a Citus table cannot have: distributed → local, reference → distributed or local,
 *   local → distributed (tables outside public are local to the coordinator);
 * - a policy anywhere with a sub-select;
 * - a table of public neither tenant-scoped (organization_id) nor classified, and a classified name that
 *   is no table any more.
 * Returns one line per problem, sorted; none means ready.
 */
export async function citusReadinessProblems(q: Queryable, lists: CitusLists = DECLARED): Promise<string[]> {
  const problems: string[] = [];
  const catalog = await readCitusCatalog(q, lists);
  for (const t of catalog.unclassified) {
    problems.push(`${t}: no organization_id and not classified (declare it reference or local, with why)`);
  }
  for (const t of catalog.missing)
    problems.push(`${t}: classified but no such table in public (stale entry)`);
  const kinds = new Map<string, CitusTableKind>(catalog.classes.map((c) => [c.table, c.kind]));
  const kindOf = (schema: string, table: string): CitusTableKind =>
    (schema === 'public' ? kinds.get(table) : undefined) ?? 'local';

  const indexes = await q.query(UNIQUE_INDEXES_SQL);
  for (const i of indexes.rows as { table: string; index: string; lead: string | null }[]) {
    if (kinds.get(i.table) === 'distributed' && i.lead !== 'organization_id') {
      problems.push(
        `${i.table}: unique index ${i.index} does not lead with organization_id (distributed table)`,
      );
    }
  }

  const constraints = await q.query(CONSTRAINTS_SQL);
  type Constraint = {
    name: string;
    type: 'f' | 'x';
    fromSchema: string;
    from: string;
    fromLead: string | null;
    toSchema: string | null;
    to: string | null;
    toLead: string | null;
  };
  for (const k of constraints.rows as Constraint[]) {
    const from = kindOf(k.fromSchema, k.from);
    const label = `${k.fromSchema === 'public' ? '' : `${k.fromSchema}.`}${k.from}`;
    if (k.type === 'x') {
      if (from === 'distributed' && k.fromLead !== 'organization_id') {
        problems.push(`${label}: exclusion constraint ${k.name} does not lead with organization_id`);
      }
      continue;
    }
    const to = kindOf(k.toSchema!, k.to!);
    const target = `${k.toSchema === 'public' ? '' : `${k.toSchema}.`}${k.to}`;
    const fk = `foreign key ${k.name} (${from} -> ${to} ${target})`;
    if (from === 'distributed' && to === 'distributed') {
      if (k.fromLead !== 'organization_id' || k.toLead !== 'organization_id') {
        problems.push(`${label}: ${fk} does not lead with organization_id on both sides`);
      }
    } else if (from === 'distributed' && to === 'local') {
      problems.push(`${label}: ${fk}: a distributed table cannot reference a local one`);
    } else if (from === 'reference' && to !== 'reference') {
      problems.push(`${label}: ${fk}: a reference table can only reference reference tables`);
    } else if (from === 'local' && to === 'distributed') {
      problems.push(`${label}: ${fk}: a local table cannot reference a distributed one`);
    }
  }

  const policies = await q.query(SUBSELECT_POLICIES_SQL);
  for (const p of policies.rows as { table: string; policy: string }[]) {
    problems.push(
      `${p.table}: policy ${p.policy} uses a sub-select (Citus refuses it on distributed tables)`,
    );
  }
  return problems.sort();
}
