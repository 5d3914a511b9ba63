import { unboundProblems, type FilterProblem, type TableRef } from './explicit-filters-tree.js';

/**
 * The conservative check of raw SQL (a `sql` template, a statement deferred until COMMIT): a text scan,
 * no parser. Each tenant table the text names after FROM / JOIN / UPDATE / USING (or a comma of a FROM
 * list) needs `<its name or alias>.organization_id = $n` (unqualified when it is the statement's only
 * tenant table) with `$n` the scope's tenant, or an equality on organization_id with a table so bound;
 * a predicate with an OR anywhere at its parenthesis level, or at an enclosing level up to its subquery,
 * binds nothing. INSERT INTO a tenant table: its organization_id column takes a `$n` equal to the tenant
 * (VALUES or SELECT list). What it cannot read (another form) fails: the fix is the plain form, or an
 * entry in the exemptions (explicit-filters.ts) saying why.
 */
export function textProblems(
  sql: string,
  params: readonly unknown[],
  tenantId: string,
  tables: ReadonlySet<string>,
): FilterProblem[] {
  const text = blankLiterals(sql).toLowerCase();
  const problems: FilterProblem[] = [];
  const refs = tableRefs(text, tables);
  const inserts = insertTargets(text, tables);
  const isTenant = (n: number): boolean => params[n - 1] === tenantId;

  // `[q.]organization_id = $n` and `[a.]organization_id = [b.]organization_id`, at positions where they bind.
  const bound = new Set<string>();
  const wrong = new Map<string, string>();
  const edges: [string | undefined, string | undefined][] = [];
  const qualify = (q: string | undefined): string | undefined =>
    q ?? (refs.length === 1 ? refs[0]!.name : undefined);
  const COL = String.raw`(?<![a-z0-9_."])(?:"?([a-z_][a-z0-9_]*)"?\s*\.\s*)?"?organization_id\b"?`;
  const valueRe = new RegExp(String.raw`${COL}\s*=\s*\$(\d+)(?:\s*::\s*uuid)?`, 'g');
  for (const m of text.matchAll(valueRe)) {
    if (!conjunctAt(text, m.index)) continue;
    const name = qualify(m[1]);
    if (name === undefined) continue;
    const n = Number(m[2]);
    if (isTenant(n)) bound.add(name);
    else wrong.set(name, `$${n} = ${JSON.stringify(params[n - 1])}`);
  }
  const joinRe = new RegExp(String.raw`${COL}\s*=\s*${COL}`, 'g');
  for (const m of text.matchAll(joinRe)) {
    if (conjunctAt(text, m.index)) edges.push([qualify(m[1]), qualify(m[2])]);
  }
  for (let changed = true; changed;) {
    changed = false;
    for (const [a, b] of edges) {
      if (a !== undefined && b !== undefined && bound.has(a) !== bound.has(b)) {
        bound.add(a);
        bound.add(b);
        changed = true;
      }
    }
  }
  problems.push(
    ...unboundProblems(
      refs,
      bound,
      wrong,
      (column) => `no \`${column} = $n\` (n the tenant) AND-ed where it is read`,
    ),
  );
  for (const insert of inserts) {
    const n = insertedOrganization(text, insert.at);
    if (n === undefined || !isTenant(n)) {
      problems.push({
        table: insert.table,
        reason: "the INSERT's organization_id is not a $n equal to the scope's tenant",
      });
    }
  }
  return problems;
}

/** The text with comments and the insides of string literals blanked (a literal naming a table is no
 *  reference to it). Dollar-quoted bodies are kept: a DO block naming a tenant table is checked too. */
function blankLiterals(sql: string): string {
  return sql
    .replace(/--[^\n]*/g, (s) => ' '.repeat(s.length))
    .replace(/\/\*[\s\S]*?\*\//g, (s) => ' '.repeat(s.length))
    .replace(/'(?:[^']|'')*'/g, (s) => `'${' '.repeat(s.length - 2)}'`);
}

const KEYWORDS = new Set(
  'where join inner left right full cross natural on set order group limit offset returning values select using for union except intersect having window fetch lateral as and or not'.split(
    ' ',
  ),
);

const IDENT = String.raw`"?([a-z_][a-z0-9_]*)"?`;
const QUALIFIED = String.raw`(?:"?[a-z_][a-z0-9_]*"?\s*\.\s*)?${IDENT}`;

/** Tenant tables named where rows are read or changed, with the name their columns go by. */
function tableRefs(text: string, tables: ReadonlySet<string>): TableRef[] {
  const refs: TableRef[] = [];
  const tableRe = new RegExp(String.raw`^\s*(?:only\s+)?${QUALIFIED}`);
  const aliasRe = new RegExp(String.raw`^\s+(?:as\s+)?${IDENT}`);
  const startRe = /\b(from|join|update|using)\b/g;
  for (const m of text.matchAll(startRe)) {
    let pos = m.index + m[0].length;
    for (;;) {
      const item = tableRe.exec(text.slice(pos));
      if (!item) break;
      const table = item[1]!;
      pos += item[0].length;
      const a = aliasRe.exec(text.slice(pos));
      const alias = a && !KEYWORDS.has(a[1]!) ? a[1] : undefined;
      if (alias !== undefined) pos += a![0].length;
      if (tables.has(table)) refs.push({ table, name: alias ?? table });
      // `from a x, b y`: a FROM list goes on after a comma (not `select a, b`: that comes before FROM).
      const comma = /^\s*,/.exec(text.slice(pos));
      if (m[1] !== 'from' || !comma) break;
      pos += comma[0].length;
    }
  }
  return refs;
}

function insertTargets(text: string, tables: ReadonlySet<string>): { table: string; at: number }[] {
  const out: { table: string; at: number }[] = [];
  const re = new RegExp(String.raw`\binsert\s+into\s+${QUALIFIED}`, 'g');
  for (const m of text.matchAll(re)) {
    if (tables.has(m[1]!)) out.push({ table: m[1]!, at: m.index + m[0].length });
  }
  return out;
}

/** The `$n` an INSERT's column list and first VALUES row (or SELECT list) give organization_id. */
function insertedOrganization(text: string, at: number): number | undefined {
  const cols = /^\s*\(([^()]*)\)\s*/.exec(text.slice(at));
  if (!cols) return undefined;
  const index = cols[1]!
    .split(',')
    .map((c) => c.trim().replace(/"/g, ''))
    .indexOf('organization_id');
  if (index < 0) return undefined;
  const rest = text.slice(at + cols[0].length);
  let list: string | undefined;
  const values = /^values\s*\(/.exec(rest);
  if (values) {
    const end = closingParen(rest, values[0].length - 1);
    list = rest.slice(values[0].length, end);
  } else {
    const select = /^select\s+/.exec(rest);
    if (select) {
      const from = /\b(?:from|where)\b/.exec(rest.slice(select[0].length));
      list = rest.slice(select[0].length, from ? select[0].length + from.index : undefined);
    }
  }
  if (list === undefined) return undefined;
  const item = splitTopLevel(list)[index];
  const m = item === undefined ? null : /^\s*\$(\d+)(?:\s*::\s*uuid)?\s*$/.exec(item);
  return m ? Number(m[1]) : undefined;
}

function closingParen(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return i;
  }
  return text.length;
}

function splitTopLevel(list: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(list.slice(start, i));
      start = i + 1;
    }
  }
  out.push(list.slice(start));
  return out;
}

/**
 * True when the predicate at `start` is a conjunct: no OR at its parenthesis level, nor at any
 * enclosing level up to the subquery (or statement) it belongs to, and it follows a WHERE or an ON.
 */
function conjunctAt(text: string, start: number): boolean {
  let lo = start;
  for (;;) {
    const open = enclosingOpen(text, lo);
    const close = open < 0 ? text.length : closingParen(text, open);
    const inside = text.slice(open + 1, close);
    if (/\bor\b/.test(sameLevel(inside))) return false;
    const subquery = open < 0 || /^\s*(?:select|with|insert|update|delete)\b/.test(inside);
    if (subquery) return /\b(?:where|on)\b/.test(sameLevel(text.slice(open + 1, start)));
    lo = open;
  }
}

/** The position of the `(` enclosing `pos`, or -1 at the top level. */
function enclosingOpen(text: string, pos: number): number {
  let depth = 0;
  for (let i = pos - 1; i >= 0; i--) {
    if (text[i] === ')') depth++;
    else if (text[i] === '(') {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

/** The text with every parenthesized group blanked out (what is at its own level). */
function sameLevel(text: string): string {
  let out = '';
  let depth = 0;
  for (const c of text) {
    if (c === '(') depth++;
    if (depth === 0) out += c;
    else out += ' ';
    if (c === ')') depth = Math.max(0, depth - 1);
  }
  return out;
}
