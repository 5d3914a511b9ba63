import { AsyncLocalStorage } from 'node:async_hooks';
import { PostgresQueryCompiler, type CompiledQuery, type RootOperationNode } from 'kysely';
import { treeProblems, type FilterProblem } from './explicit-filters-tree.js';
import { textProblems } from './explicit-filters-text.js';

/**
 * Test-time enforcement of explicit tenant filters (ISOLATION.md: "Queries also filter by
 * `organization_id` explicitly: RLS is the backstop, and on Citus only an explicit filter routes a query
 * to one shard"). With SAASREADY_EXPLICIT_FILTERS set (the test suite sets it to the tenant tables' names,
 * comma-separated, read from the migrated catalog: test/support/global-setup.ts), every statement a tenant
 * scope sends is checked before it is sent, and one that reads or writes a tenant table without an
 * `organization_id` predicate bound to the scope's tenant throws (and is recorded, so that the test that
 * issued it fails even if the error was caught on the way). Unset (production), the only cost is one
 * constant test per statement in TenantConnection.
 */
export const EXPLICIT_FILTER_ENV = 'SAASREADY_EXPLICIT_FILTERS';

/** The tenant tables' names when the check is on; undefined when off. Read once, at module load. */
const CONFIGURED = process.env[EXPLICIT_FILTER_ENV];
export const explicitFilterTables: ReadonlySet<string> | undefined = CONFIGURED
  ? new Set(
      CONFIGURED.split(',')
        .map((t) => t.trim())
        .filter((t) => t.length > 0),
    )
  : undefined;

/**
 * Statements exempted from the check, by a fragment of their SQL text, each with why. Everything not
 * naming a tenant table (catalog queries, `select 1`, function calls) passes without an entry.
 */
export const EXPLICIT_FILTER_EXEMPTIONS: readonly { readonly sql: string; readonly why: string }[] = [];

/**
 * Tests whose statements must lack the filter to prove anything, by kind, each with why: they run them
 * through `withoutExplicitFilterCheck(kind, fn)`, or call `uncheckedTest(kind)` first. Nothing else turns
 * the check off.
 */
export const UNFILTERED_TEST_PROBES = {
  rlsBackstop:
    "proves that RLS alone (no explicit filter) hides another tenant's rows and refuses its writes, or that a scope's connection behaves whatever the statement",
} as const;

const unchecked = new AsyncLocalStorage<keyof typeof UNFILTERED_TEST_PROBES>();

/** The probe the current test declared (`uncheckedTest`), until the test ends. */
let testProbe: keyof typeof UNFILTERED_TEST_PROBES | undefined;

/** Turns the check off for the rest of the current test (a test's first line; the setup file's
 *  afterEach turns it back on). Tests run one at a time in a test process. */
export function uncheckedTest(probe: keyof typeof UNFILTERED_TEST_PROBES): void {
  testProbe = probe;
}

/** The end of a test: the check is on again. */
export function endUncheckedTest(): void {
  testProbe = undefined;
}

/** Runs `fn` (a test's probe) with the check off for the statements it sends. */
export function withoutExplicitFilterCheck<T>(probe: keyof typeof UNFILTERED_TEST_PROBES, fn: () => T): T {
  return unchecked.run(probe, fn);
}

export class ExplicitFilterError extends Error {
  constructor(
    readonly problems: readonly FilterProblem[],
    readonly sql: string,
  ) {
    super(
      `tenant table without an explicit organization_id filter: ${problems
        .map((p) => `${p.table} (${p.reason})`)
        .join('; ')}\n  in: ${sql}`,
    );
    this.name = 'ExplicitFilterError';
  }
}

/** Every violation since the last `takeExplicitFilterViolations()` (the test setup fails the test on any). */
const violations: ExplicitFilterError[] = [];

export function takeExplicitFilterViolations(): ExplicitFilterError[] {
  return violations.splice(0, violations.length);
}

/** The precompiled statements' placeholder values (src/platform/db/precompiled.ts). */
const SENTINEL_PREFIX = '\u0000sr-param:';
/** A precompiled statement's tree holds placeholders: the values of its compiled text, in order. */
const templates = new WeakMap<RootOperationNode, readonly unknown[]>();
const compiler = new PostgresQueryCompiler();

function resolver(compiled: CompiledQuery): (value: unknown) => unknown {
  return (value) => {
    if (typeof value !== 'string' || !value.startsWith(SENTINEL_PREFIX)) return value;
    let template = templates.get(compiled.query);
    if (template === undefined) {
      template = compiler.compileQuery(compiled.query, compiled.queryId).parameters;
      templates.set(compiled.query, template);
    }
    return compiled.parameters[template.indexOf(value)];
  };
}

/** The problems of one statement (empty when it is fine). */
export function explicitFilterProblems(
  compiled: Pick<CompiledQuery, 'sql' | 'parameters'> & { query?: RootOperationNode },
  tenantId: string,
  tables: ReadonlySet<string>,
): FilterProblem[] {
  if (EXPLICIT_FILTER_EXEMPTIONS.some((e) => compiled.sql.includes(e.sql))) return [];
  const query = compiled.query;
  if (query === undefined || query.kind === 'RawNode' || hasRawTableText(query, tables)) {
    return textProblems(compiled.sql, compiled.parameters, tenantId, tables);
  }
  return treeProblems(query, { tenantId, tables, resolve: resolver(compiled as CompiledQuery) });
}

/** The ExplicitFilterError of a statement that lacks its tenant filter (recorded), or undefined. */
export function explicitFilterViolation(
  compiled: Pick<CompiledQuery, 'sql' | 'parameters'> & { query?: RootOperationNode },
  tenantId: string,
): ExplicitFilterError | undefined {
  if (explicitFilterTables === undefined || testProbe !== undefined || unchecked.getStore() !== undefined) {
    return undefined;
  }
  const problems = explicitFilterProblems(compiled, tenantId, explicitFilterTables);
  if (problems.length === 0) return undefined;
  const err = new ExplicitFilterError(problems, compiled.sql);
  violations.push(err);
  return err;
}

/** True when a `sql` fragment inside a built query names a tenant table where rows are read: the tree
 *  walk cannot see into it, so the whole statement gets the text check. */
function hasRawTableText(node: unknown, tables: ReadonlySet<string>): boolean {
  if (typeof node !== 'object' || node === null) return false;
  const n = node as { kind?: unknown; sqlFragments?: readonly string[] };
  if (n.kind === 'RawNode') {
    const text = (n.sqlFragments ?? []).join(' ').toLowerCase();
    for (const m of text.matchAll(
      /\b(?:from|join|update|using|into)\s+(?:"?[a-z_0-9]+"?\s*\.\s*)?"?([a-z_][a-z0-9_]*)/g,
    )) {
      if (tables.has(m[1]!)) return true;
    }
  }
  for (const v of Object.values(node)) {
    if (Array.isArray(v)) {
      for (const item of v) if (hasRawTableText(item, tables)) return true;
    } else if (typeof v === 'object' && v !== null && hasRawTableText(v, tables)) {
      return true;
    }
  }
  return false;
}
