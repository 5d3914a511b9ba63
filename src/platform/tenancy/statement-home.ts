import { TenancyError } from './errors.js';

/**
 * Where a statement of a `database` placement's scope runs (docs/isolation-models.md, "Database
 * placements: the directory stays in the control database"): `tenant`, the organization's tenant
 * database, which holds its PLACED tables (placed-tables.ts); `control`, the control database, which
 * holds the directory and global tables for every organization.
 *
 * Decided by the relations and functions the statement names, read from its text: an identifier (quoted
 * or not, outside string literals) that is one of the control database's own relations or functions
 * sends it to the control database; one that is a placed table, to the tenant database; both is refused
 * (`PLACEMENT_CROSS_DATABASE`: a join or a subquery across the two databases cannot run anywhere, so the
 * statement must be split by its module); neither (`select 1`, a lock, a function of the placed data)
 * runs on the tenant database. A column that happens to bear a table's name can only make a statement
 * look mixed (refused, loudly), never send it to the wrong database silently, as long as no column of a
 * control table is named like a placed table and vice versa (statement-home.test.ts checks the catalog).
 */
export type StatementHome = 'tenant' | 'control';

/**
 * A statement that starts with this comment runs on the tenant database whatever it names: the copy of
 * an organization's own row that its tenant database keeps for its placed rows' foreign keys, written
 * when the organization is created there (organizations.repository.ts). Nothing else uses it.
 */
export const TENANT_DATABASE_MARK = '/* tenant database */ ';

export interface StatementHomes {
  /** The home of a statement; throws `PLACEMENT_CROSS_DATABASE` for one naming both sides. */
  of(sql: string): StatementHome;
}

/** Functions of ours that read or write the control database's tables (a statement calling one runs
 *  there): the job queue's enqueue (graphile_worker lives in the control database). */
export const CONTROL_FUNCTIONS: Readonly<Record<string, string>> = {
  app_enqueue_job: 'enqueues into graphile_worker, whose workers run on the control database',
  app_tenant_commit_decide: 'records a two-phase commit decision in the control database (migration 0071)',
  app_invoice_number_next:
    "the deployment's invoice numbering counter, global in the control database (0071)",
};

/** At most this many statement texts remembered (oldest forgotten first). */
const MAX_REMEMBERED = 4_096;

// Skipped: a comment (`-- …` to the end of the line, `/* … */` nested or not: what is inside never names
// anything), an escape string (E'…', backslash escapes), a dollar-quoted string ($tag$…$tag$), a string
// literal ('…', '' escaped). Kept: a quoted identifier ("…", "" escaped) or a bare word.
const TOKEN =
  /--[^\n]*|\/\*[\s\S]*?\*\/|[Ee]'(?:[^'\\]|\\[\s\S]|'')*'|\$([A-Za-z_][A-Za-z0-9_]*)?\$[\s\S]*?\$\1\$|'(?:[^']|'')*'|"((?:[^"]|"")*)"|([A-Za-z_][A-Za-z0-9_$]*)/g;

/**
 * The classifier for one control database: `control`, its relations that are not placed (directory and
 * global tables, views) and CONTROL_FUNCTIONS; `placed`, the placed tables and their partitions.
 */
export function createStatementHomes(tables: {
  readonly control: Iterable<string>;
  readonly placed: Iterable<string>;
}): StatementHomes {
  const control = new Set<string>([...tables.control, ...Object.keys(CONTROL_FUNCTIONS)]);
  const placed = new Set<string>(tables.placed);
  for (const name of placed) control.delete(name);
  const remembered = new Map<string, StatementHome | TenancyError>();
  return {
    of(sql) {
      let home = remembered.get(sql);
      if (home === undefined) {
        home = classify(sql, control, placed);
        if (remembered.size >= MAX_REMEMBERED) remembered.delete(remembered.keys().next().value as string);
        remembered.set(sql, home);
      }
      if (home instanceof TenancyError) throw home;
      return home;
    },
  };
}

function classify(
  sql: string,
  control: ReadonlySet<string>,
  placed: ReadonlySet<string>,
): StatementHome | TenancyError {
  if (sql.startsWith(TENANT_DATABASE_MARK)) return 'tenant';
  let controlName: string | undefined;
  let placedName: string | undefined;
  for (const m of sql.matchAll(TOKEN)) {
    const quoted = m[2];
    const bare = m[3];
    if (quoted === undefined && bare === undefined) continue; // a string literal
    const name = quoted !== undefined ? quoted.replaceAll('""', '"') : bare!.toLowerCase();
    if (controlName === undefined && control.has(name)) controlName = name;
    else if (placedName === undefined && placed.has(name)) placedName = name;
  }
  if (controlName !== undefined && placedName !== undefined) {
    return new TenancyError(
      'PLACEMENT_CROSS_DATABASE',
      `a statement of a database placement's scope names ${controlName} (control database) and ${placedName} (tenant database): split it`,
    );
  }
  return controlName !== undefined ? 'control' : 'tenant';
}
