import type { OperationNode } from 'kysely';

/** What the checker found wrong with one tenant table of a statement. */
export interface FilterProblem {
  readonly table: string;
  readonly reason: string;
}

/** A compiled value as the database will receive it (a precompiled statement's sentinel resolved). */
export type ResolveValue = (value: unknown) => unknown;

/** What a check needs besides the statement: the scope's tenant and the tenant tables' names. */
export interface FilterContext {
  readonly tenantId: string;
  readonly tables: ReadonlySet<string>;
  readonly resolve: ResolveValue;
}

type AnyNode = OperationNode & { readonly [key: string]: unknown };

const QUERY_KINDS = new Set([
  'SelectQueryNode',
  'UpdateQueryNode',
  'DeleteQueryNode',
  'InsertQueryNode',
  'MergeQueryNode',
]);

/** A tenant table as a statement names it: its table and the name its columns are qualified by. */
export interface TableRef {
  readonly table: string;
  readonly name: string;
}

/**
 * A problem for each table read that no predicate binds to the tenant: its organization_id compared with
 * another value (`wrong`, by name: what it was compared with), or with none; `missing` says what is
 * missing given the column as the statement would qualify it.
 */
export function unboundProblems(
  refs: readonly TableRef[],
  bound: ReadonlySet<string>,
  wrong: ReadonlyMap<string, string>,
  missing: (column: string) => string,
): FilterProblem[] {
  const problems: FilterProblem[] = [];
  for (const ref of refs) {
    if (bound.has(ref.name)) continue;
    const other = wrong.get(ref.name);
    problems.push({
      table: ref.table,
      reason:
        other !== undefined
          ? `its organization_id is compared with ${other}, not with the scope's tenant`
          : missing(`${ref.name === ref.table ? '' : `${ref.name}.`}organization_id`),
    });
  }
  return problems;
}

const isNode = (v: unknown): v is AnyNode =>
  typeof v === 'object' && v !== null && typeof (v as { kind?: unknown }).kind === 'string';

const identifierName = (n: unknown): string | undefined =>
  isNode(n) && n.kind === 'IdentifierNode' ? (n.name as string) : undefined;

/** The bare name of a TableNode (`public.projects`, `"t_…".projects` and `projects` are all `projects`). */
function tableName(n: unknown): string | undefined {
  if (!isNode(n) || n.kind !== 'TableNode') return undefined;
  return identifierName((n.table as AnyNode).identifier);
}

/**
 * Every tenant table of a Kysely operation tree that is read or written without an explicit
 * `organization_id` predicate bound to the scope's tenant. Each query (the statement, its CTEs, its
 * subqueries wherever they appear) is its own scope: a tenant table in its FROM / JOIN / USING / UPDATE
 * target needs, among the AND-ed conjuncts of its WHERE or of a join's ON, `<name>.organization_id =
 * <the tenant>` (unqualified when it is the scope's only tenant table), or an equality
 * `<name>.organization_id = <other>.organization_id` with a table so bound (in this scope or an
 * enclosing one). An OR-ed predicate binds nothing. An INSERT into a tenant table puts the tenant in
 * every row's organization_id.
 */
export function treeProblems(root: OperationNode, ctx: FilterContext): FilterProblem[] {
  const problems: FilterProblem[] = [];
  walk(root as AnyNode, ctx, new Set(), new Set(), problems);
  return problems;
}

function walk(
  node: AnyNode,
  ctx: FilterContext,
  ctes: ReadonlySet<string>,
  outerBound: ReadonlySet<string>,
  problems: FilterProblem[],
): void {
  if (QUERY_KINDS.has(node.kind)) {
    checkQuery(node, ctx, ctes, outerBound, problems);
    return;
  }
  for (const child of children(node)) walk(child, ctx, ctes, outerBound, problems);
}

function children(node: AnyNode): AnyNode[] {
  const out: AnyNode[] = [];
  for (const key of Object.keys(node)) {
    const v = node[key];
    if (Array.isArray(v)) {
      for (const item of v) if (isNode(item)) out.push(item);
    } else if (isNode(v)) {
      out.push(v);
    }
  }
  return out;
}

function checkQuery(
  node: AnyNode,
  ctx: FilterContext,
  outerCtes: ReadonlySet<string>,
  outerBound: ReadonlySet<string>,
  problems: FilterProblem[],
): void {
  // CTE names shadow tables; each CTE body is a query of its own.
  const ctes = new Set(outerCtes);
  const withNode = node.with as AnyNode | undefined;
  const cteBodies: AnyNode[] = [];
  for (const cte of (withNode?.expressions as AnyNode[] | undefined) ?? []) {
    const name = tableName((cte.name as AnyNode).table);
    if (name) ctes.add(name);
    cteBodies.push(cte.expression as AnyNode);
  }
  for (const body of cteBodies) walk(body, ctx, ctes, outerBound, problems);

  if (node.kind === 'MergeQueryNode') {
    const into = refOf(node.into, ctx, ctes);
    if (into)
      problems.push({ table: into.table, reason: 'MERGE into a tenant table is not checked: not used' });
  }
  if (node.kind === 'InsertQueryNode') checkInsert(node, ctx, ctes, problems);

  const refs = localRefs(node, ctx, ctes);
  const local = new Map(refs.map((r) => [r.name, r]));
  const bound = new Set<string>();
  const wrong = new Map<string, string>();
  const edges: [string | undefined, string | undefined][] = [];
  const qualify = (q: string | undefined): string | undefined => {
    if (q !== undefined) return q;
    return refs.length === 1 ? refs[0]!.name : undefined;
  };
  for (const c of conjunctsOf(node)) {
    const p = predicate(c, ctx);
    if (!p) continue;
    if (p.kind === 'value') {
      const name = qualify(p.qualifier);
      if (name === undefined) continue;
      if (p.matches) bound.add(name);
      else wrong.set(name, p.shown);
    } else {
      edges.push([qualify(p.left), qualify(p.right)]);
    }
  }
  // An equality with a bound table binds the other side (a name not local refers to an enclosing query).
  const isBound = (name: string | undefined): boolean =>
    name !== undefined && (bound.has(name) || (!local.has(name) && outerBound.has(name)));
  for (let changed = true; changed;) {
    changed = false;
    for (const [a, b] of edges) {
      if (isBound(a) && b !== undefined && local.has(b) && !bound.has(b)) {
        bound.add(b);
        changed = true;
      }
      if (isBound(b) && a !== undefined && local.has(a) && !bound.has(a)) {
        bound.add(a);
        changed = true;
      }
    }
  }
  problems.push(
    ...unboundProblems(
      refs,
      bound,
      wrong,
      (column) => `no \`${column} = <tenant>\` among the AND-ed conditions of its WHERE / ON`,
    ),
  );

  const innerBound = new Set(outerBound);
  for (const name of local.keys()) innerBound.delete(name);
  for (const name of bound) innerBound.add(name);
  for (const child of children(node)) {
    if (child === withNode) continue;
    walk(child, ctx, ctes, innerBound, problems);
  }
}

/** The tenant tables a query reads or changes itself (not those of its subqueries). */
function localRefs(node: AnyNode, ctx: FilterContext, ctes: ReadonlySet<string>): TableRef[] {
  const items: unknown[] = [];
  const from = node.from as AnyNode | undefined;
  if (from?.kind === 'FromNode') items.push(...(from.froms as unknown[]));
  for (const join of (node.joins as AnyNode[] | undefined) ?? []) items.push(join.table);
  if (node.kind === 'UpdateQueryNode') {
    const t = node.table as AnyNode | undefined;
    if (t?.kind === 'ListNode') items.push(...(t.items as unknown[]));
    else items.push(t);
  }
  const using = node.using as AnyNode | undefined;
  if (using?.kind === 'UsingNode') items.push(...(using.tables as unknown[]));
  const refs: TableRef[] = [];
  for (const item of items) {
    const ref = refOf(item, ctx, ctes);
    if (ref) refs.push(ref);
  }
  return refs;
}

function refOf(item: unknown, ctx: FilterContext, ctes: ReadonlySet<string>): TableRef | undefined {
  let table: string | undefined;
  let name: string | undefined;
  if (isNode(item) && item.kind === 'AliasNode') {
    table = tableName(item.node);
    name = identifierName(item.alias);
  } else {
    table = tableName(item);
    name = table;
  }
  if (table === undefined || name === undefined || ctes.has(table) || !ctx.tables.has(table))
    return undefined;
  return { table, name };
}

/** The AND-ed conditions of a query's WHERE and of its joins' ON. */
function conjunctsOf(node: AnyNode): AnyNode[] {
  const out: AnyNode[] = [];
  const where = node.where as AnyNode | undefined;
  if (where) flattenAnd(where.where as AnyNode, out);
  for (const join of (node.joins as AnyNode[] | undefined) ?? []) {
    const on = join.on as AnyNode | undefined;
    if (on) flattenAnd(on.on as AnyNode, out);
  }
  return out;
}

function flattenAnd(n: AnyNode, out: AnyNode[]): void {
  if (n.kind === 'AndNode') {
    flattenAnd(n.left as AnyNode, out);
    flattenAnd(n.right as AnyNode, out);
  } else if (n.kind === 'ParensNode') {
    flattenAnd(n.node as AnyNode, out);
  } else {
    out.push(n);
  }
}

type Predicate =
  | { kind: 'value'; qualifier: string | undefined; matches: boolean; shown: string }
  | { kind: 'join'; left: string | undefined; right: string | undefined };

/** `[q.]organization_id` as a reference: its qualifier ('' when unqualified); undefined otherwise. */
function orgColumn(n: AnyNode): { qualifier: string | undefined } | undefined {
  if (n.kind !== 'ReferenceNode') {
    if (n.kind === 'ColumnNode' && identifierName(n.column) === 'organization_id')
      return { qualifier: undefined };
    return undefined;
  }
  const column = n.column as AnyNode;
  if (column.kind !== 'ColumnNode' || identifierName(column.column) !== 'organization_id') return undefined;
  return { qualifier: n.table ? tableName(n.table) : undefined };
}

/** A conjunct that binds organization_id: to a value, or to another table's organization_id. */
function predicate(c: AnyNode, ctx: FilterContext): Predicate | undefined {
  if (c.kind === 'RawNode') return rawPredicate(c, ctx);
  if (c.kind !== 'BinaryOperationNode') return undefined;
  const op = c.operator as AnyNode;
  if (op.kind !== 'OperatorNode' || op.operator !== '=') return undefined;
  const left = c.leftOperand as AnyNode;
  const right = c.rightOperand as AnyNode;
  const l = orgColumn(left);
  const r = orgColumn(right);
  if (l && r) return { kind: 'join', left: l.qualifier, right: r.qualifier };
  const col = l ?? r;
  const other = l ? right : left;
  if (!col || other.kind !== 'ValueNode') return undefined;
  const value = ctx.resolve(other.value);
  return {
    kind: 'value',
    qualifier: col.qualifier,
    matches: value === ctx.tenantId,
    shown: JSON.stringify(value),
  };
}

/** A `sql` fragment used as a condition: `[q.]organization_id = ${value}` with no OR in its text. */
function rawPredicate(c: AnyNode, ctx: FilterContext): Predicate | undefined {
  const fragments = c.sqlFragments as readonly string[];
  const params = c.parameters as readonly AnyNode[];
  if (fragments.some((f) => /\bor\b/i.test(f)) || fragments.length !== 2 || params.length !== 1)
    return undefined;
  const m = /^\s*(?:"?([a-z_][a-z0-9_]*)"?\.)?"?organization_id"?\s*=\s*$/i.exec(fragments[0]!);
  const param = params[0]!;
  if (!m || param.kind !== 'ValueNode' || !/^(?:::uuid)?\s*$/i.test(fragments[1]!)) return undefined;
  const value = ctx.resolve(param.value);
  return { kind: 'value', qualifier: m[1], matches: value === ctx.tenantId, shown: JSON.stringify(value) };
}

/** INSERT into a tenant table: every row's organization_id is the tenant. */
function checkInsert(
  node: AnyNode,
  ctx: FilterContext,
  ctes: ReadonlySet<string>,
  problems: FilterProblem[],
): void {
  const table = tableName(node.into);
  if (table === undefined || ctes.has(table) || !ctx.tables.has(table)) return;
  const columns = ((node.columns as AnyNode[] | undefined) ?? []).map((c) => identifierName(c.column));
  const index = columns.indexOf('organization_id');
  if (index < 0) {
    problems.push({ table, reason: 'the INSERT gives no organization_id' });
    return;
  }
  const values = node.values as AnyNode | undefined;
  if (values?.kind === 'ValuesNode') {
    for (const row of values.values as AnyNode[]) {
      const v = rowValue(row, index, ctx);
      if (v !== ctx.tenantId) {
        problems.push({
          table,
          reason: `a row's organization_id is ${JSON.stringify(v)}, not the scope's tenant`,
        });
        return;
      }
    }
    return;
  }
  if (values?.kind === 'SelectQueryNode') {
    // INSERT … SELECT: the selected organization_id is a value equal to the tenant, or the column of one
    // of the select's tenant tables (which the select's own check binds to the tenant).
    const selection = (values.selections as AnyNode[] | undefined)?.[index]?.selection as AnyNode | undefined;
    let s = selection;
    if (s?.kind === 'AliasNode') s = s.node as AnyNode;
    if (s?.kind === 'ValueNode' && ctx.resolve(s.value) === ctx.tenantId) return;
    if (s && orgColumn(s) && localRefs(values, ctx, ctes).length > 0) return;
  }
  problems.push({ table, reason: "the INSERT's organization_id is not a value equal to the scope's tenant" });
}

const NOT_A_VALUE = Symbol('not a value');

function rowValue(row: AnyNode, index: number, ctx: FilterContext): unknown {
  if (row.kind === 'PrimitiveValueListNode') return ctx.resolve((row.values as unknown[])[index]);
  if (row.kind === 'ValueListNode') {
    const v = (row.values as AnyNode[])[index];
    if (v?.kind === 'ValueNode') return ctx.resolve(v.value);
    // `sql\`${tenantId}::uuid\`` and the like: one value, nothing else but a cast.
    if (v?.kind === 'RawNode') {
      const params = v.parameters as AnyNode[];
      const text = (v.sqlFragments as string[]).join('');
      if (params.length === 1 && params[0]!.kind === 'ValueNode' && /^\s*(?:::uuid)?\s*$/i.test(text)) {
        return ctx.resolve(params[0]!.value);
      }
    }
  }
  return NOT_A_VALUE;
}
