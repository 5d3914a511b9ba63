import {
  OperationNodeTransformer,
  PostgresQueryCompiler,
  TableNode,
  type AggregateFunctionNode,
  type CompiledQuery,
  type FunctionNode,
  type OperationNode,
  type RawNode,
  type ReferenceNode,
  type WithNode,
} from 'kysely';

/**
 * Reads of a schema-placed organization that name its tables themselves, so that they need no search path.
 *
 * Why: setting the search path per transaction (and PostgreSQL's revert of it at the end) is what a schema
 * placement's read costs beyond a pooled one (docs/performance.md, "Schema placements"). A read whose
 * every table is resolved in the statement's own text runs with the pooled prelude (the tenant alone).
 *
 * What is the same: with the search path `"t_…", public`, an unqualified name resolves to the schema when
 * the schema holds a table of that name, else to `public`. The qualifier names the schema for exactly the
 * tables the schema holds (read from its catalog with the placement, `placement.ts`) and leaves every
 * other name as it was (resolved in `public` by the default path), so a qualified read resolves every table
 * as the search path would. Forced RLS and the tenant setting apply as before.
 *
 * What is not rewritten (the read keeps the search path): anything whose resolution the text does not
 * show. A raw SQL fragment, a function that is not a built-in one known here (a function of ours may read
 * tables through the search path), a CTE (its name could shadow a table), a statement that is not a
 * SELECT, or a tree that does not compile back to the statement's own text (then the tree is not the whole
 * story, e.g. a plugin's work after it).
 */

/** Built-in functions and aggregates that read no table: the only ones a qualified read may call. */
const PURE_FUNCTIONS = new Set([
  'count',
  'sum',
  'min',
  'max',
  'avg',
  'coalesce',
  'nullif',
  'lower',
  'upper',
  'length',
  'greatest',
  'least',
  'now',
  'date_trunc',
  'array_agg',
  'json_agg',
  'jsonb_agg',
  'string_agg',
  'bool_and',
  'bool_or',
]);

/** At most this many statement texts remembered per schema; past it they are forgotten and examined again. */
const MAX_REMEMBERED = 2_000;

class Qualifier extends OperationNodeTransformer {
  /** Set when the tree holds something whose resolution its text does not show. */
  opaque = false;

  constructor(
    private readonly schema: string,
    private readonly tables: ReadonlySet<string>,
  ) {
    super();
  }

  // A reference's table (`"projects"."id"`, `"projects".*`) names a FROM item, which may be an alias:
  // it stays as written and resolves to the FROM item it names, exactly as under the search path.
  protected override transformReference(node: ReferenceNode): ReferenceNode {
    return node;
  }

  protected override transformTable(node: TableNode): TableNode {
    const name = node.table.identifier.name;
    if (node.table.schema !== undefined) return node;
    if (this.tables.has(name)) return TableNode.createWithSchema(this.schema, name);
    // A name this list does not hold but that could be a partition of one of its tables made after the
    // list was read (`usage_events_…`): the search path knows better.
    for (const held of this.tables) {
      if (name.startsWith(`${held}_`)) this.opaque = true;
    }
    return node;
  }

  protected override transformRaw(node: RawNode): RawNode {
    this.opaque = true;
    return node;
  }

  protected override transformWith(node: WithNode): WithNode {
    this.opaque = true;
    return node;
  }

  protected override transformFunction(node: FunctionNode): FunctionNode {
    if (!PURE_FUNCTIONS.has(node.func)) this.opaque = true;
    return super.transformFunction(node);
  }

  protected override transformAggregateFunction(node: AggregateFunctionNode): AggregateFunctionNode {
    if (!PURE_FUNCTIONS.has(node.func)) this.opaque = true;
    return super.transformAggregateFunction(node);
  }
}

export interface ReadQualifier {
  /** The text to run for a compiled read without the search path (the statement's own text when it names
   *  none of the schema's tables), or undefined when it must keep the search path. */
  qualify(compiled: CompiledQuery): string | undefined;
  /** The qualified text of `sql` was refused by the server: the read keeps the search path from now on. */
  refuse(sql: string): void;
}

/**
 * A qualifier for one schema and the tables it holds. Each statement text is examined once (the same text
 * always comes from the same tree shape); the answer is remembered, so a read pays one Map lookup.
 */
export function createReadQualifier(schema: string, tables: readonly string[]): ReadQualifier {
  const held = new Set(tables);
  const compiler = new PostgresQueryCompiler();
  const remembered = new Map<string, string | null>();

  function qualify(compiled: CompiledQuery): string | null {
    const root: OperationNode = compiled.query;
    if (root.kind !== 'SelectQueryNode') return null;
    // The tree must be what the text was compiled from, or a rewrite of it would not be this statement.
    if (compiler.compileQuery(compiled.query, compiled.queryId).sql !== compiled.sql) return null;
    const qualifier = new Qualifier(schema, held);
    const rewritten = qualifier.transformNode(compiled.query);
    if (qualifier.opaque) return null;
    const sql = compiler.compileQuery(rewritten, compiled.queryId).sql;
    return sql === compiled.sql ? compiled.sql : sql;
  }

  return {
    qualify(compiled) {
      const known = remembered.get(compiled.sql);
      if (known !== undefined) return known ?? undefined;
      // Texts of every length of an `in (…)` list are many: past the bound, start over rather than stop.
      if (remembered.size >= MAX_REMEMBERED) remembered.clear();
      let sql: string | null;
      try {
        sql = qualify(compiled);
      } catch {
        sql = null; // a tree this code does not know how to compile: keep the search path
      }
      remembered.set(compiled.sql, sql);
      return sql ?? undefined;
    },
    refuse(sql) {
      remembered.set(sql, null);
    },
  };
}
