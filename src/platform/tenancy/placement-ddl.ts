import type { ColumnShape, TableShape } from './placement-catalog.js';

/**
 * The DDL `syncPlacementSchema` runs to make one table of an organization's schema match `public`'s:
 * pure functions from the two shapes (placement-catalog.ts) to statements. Definitions read from `public`
 * are re-targeted (`rt`) before they are compared or run: a reference to a placed table points to the
 * organization's schema, every other reference stays on `public`.
 */

/** Re-targets a definition read from `public` (search_path = pg_catalog: every name qualified). */
export type Retarget = (def: string) => string;

/** A quoted identifier. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

const ENABLE_TRIGGER: Readonly<Record<string, string>> = {
  O: 'enable',
  D: 'disable',
  R: 'enable replica',
  A: 'enable always',
};

export function columnDef(c: ColumnShape, rt: Retarget): string {
  let def = `${ident(c.name)} ${c.type}`;
  if (c.collation) def += ` collate ${c.collation}`;
  if (c.generated)
    def += ` generated always as (${rt(c.expr ?? '')}) ${c.generated === 'v' ? 'virtual' : 'stored'}`;
  else if (c.identity) def += ` generated ${c.identity === 'a' ? 'always' : 'by default'} as identity`;
  else if (c.expr !== null) def += ` default ${rt(c.expr)}`;
  if (c.notNull) def += ' not null';
  return def;
}

/** `create table` of a placed table (with its columns) or of one partition of it. */
export function createTable(target: string, schema: string, pub: TableShape, rt: Retarget): string {
  if (pub.parent !== null) {
    return `create table ${target} partition of ${schema}.${ident(pub.parent)} ${pub.bound ?? 'default'}`;
  }
  const cols = pub.columns.map((c) => columnDef(c, rt)).join(', ');
  return `create table ${target} (${cols})${pub.partitionKey ? ` partition by ${pub.partitionKey}` : ''}`;
}

/** Columns added, dropped or altered (type, default, not null, identity). A column that becomes generated,
 *  or is generated otherwise, is re-added: its values are computed, so nothing is lost. Everything else is
 *  altered in place, because re-adding a column replaces the values the schema's rows hold: an identity
 *  added, dropped or changed (a migration keeps the ids), and a stored generated column made plain
 *  (`drop expression` keeps the values it had). */
export function columnChanges(target: string, pub: TableShape, cur: TableShape, rt: Retarget): string[] {
  const out: string[] = [];
  const have = new Map(cur.columns.map((c) => [c.name, c]));
  for (const c of pub.columns) {
    const e = have.get(c.name);
    const col = ident(c.name);
    const alter = `alter table ${target} alter column ${col}`;
    if (!e) {
      out.push(`alter table ${target} add column ${columnDef(c, rt)}`);
      continue;
    }
    const expr = c.expr === null ? null : rt(c.expr);
    const madePlain = e.generated === 's' && c.generated === '';
    if (!madePlain && (e.generated !== c.generated || (c.generated && e.expr !== expr))) {
      out.push(
        `alter table ${target} drop column ${col}`,
        `alter table ${target} add column ${columnDef(c, rt)}`,
      );
      continue;
    }
    // What the column has once each step below ran: its default (an identity or generated column has
    // none) and whether it is NOT NULL.
    let current = e.generated ? null : e.expr;
    let notNull = e.notNull;
    if (madePlain) out.push(`${alter} drop expression`);
    if (e.type !== c.type || e.collation !== c.collation) {
      const collate = c.collation ? ` collate ${c.collation}` : '';
      out.push(`${alter} type ${c.type}${collate} using ${col}::${c.type}`);
    }
    if (e.identity !== c.identity) {
      const kind = c.identity === 'a' ? 'always' : 'by default';
      if (!e.identity) {
        // An identity column has no default and is NOT NULL (public's is too).
        if (current !== null) out.push(`${alter} drop default`);
        if (!notNull) out.push(`${alter} set not null`);
        out.push(`${alter} add generated ${kind} as identity`);
        [current, notNull] = [null, true];
      } else {
        out.push(c.identity ? `${alter} set generated ${kind}` : `${alter} drop identity`);
      }
    }
    if (!c.generated && !c.identity && current !== expr) {
      out.push(expr === null ? `${alter} drop default` : `${alter} set default ${expr}`);
    }
    if (notNull !== c.notNull) out.push(`${alter} ${c.notNull ? 'set' : 'drop'} not null`);
  }
  const wanted = new Set(pub.columns.map((c) => c.name));
  for (const e of cur.columns) {
    if (!wanted.has(e.name)) out.push(`alter table ${target} drop column ${ident(e.name)}`);
  }
  return out;
}

/** Constraints and indexes to drop: gone from `public` or defined differently (foreign keys first, so a
 *  key they reference can go after them). `keep` names the schema's own constraints. */
export function staleConstraintsAndIndexes(
  target: string,
  schema: string,
  pub: TableShape,
  cur: TableShape,
  rt: Retarget,
  keep: ReadonlySet<string>,
): string[] {
  const fks: string[] = [];
  const others: string[] = [];
  for (const [name, c] of cur.constraints) {
    if (keep.has(name)) continue;
    const p = pub.constraints.get(name);
    if (p && rt(p.def) === c.def) continue;
    (c.type === 'f' ? fks : others).push(`alter table ${target} drop constraint ${ident(name)}`);
  }
  for (const [name, def] of cur.indexes) {
    const p = pub.indexes.get(name);
    if (p !== undefined && rt(p) === def) continue;
    others.push(`drop index ${schema}.${ident(name)}`);
  }
  return [...fks, ...others];
}

/** Constraints of `public` missing in the schema, of the given kinds (foreign keys come last, once
 *  every table has the keys they reference). */
export function missingConstraints(
  target: string,
  pub: TableShape,
  cur: TableShape,
  rt: Retarget,
  foreignKeys: boolean,
): string[] {
  const out: string[] = [];
  for (const [name, p] of pub.constraints) {
    if ((p.type === 'f') !== foreignKeys) continue;
    const c = cur.constraints.get(name);
    if (c && c.def === rt(p.def)) continue;
    out.push(`alter table ${target} add constraint ${ident(name)} ${rt(p.def)}`);
  }
  return out;
}

/** Indexes of `public` missing in the schema. On a partitioned table, `pg_get_indexdef` says
 *  `ON ONLY`: created without it, the index is built on every partition too, as public's is. */
export function missingIndexes(pub: TableShape, cur: TableShape, rt: Retarget): string[] {
  const out: string[] = [];
  for (const [name, def] of pub.indexes) {
    if (cur.indexes.get(name) === rt(def)) continue;
    out.push(rt(def).replace(' ON ONLY ', ' ON '));
  }
  return out;
}

/** Triggers: the same definitions (the same functions) and the same enabled state. */
export function triggerChanges(target: string, pub: TableShape, cur: TableShape, rt: Retarget): string[] {
  const out: string[] = [];
  for (const [name, c] of cur.triggers) {
    const p = pub.triggers.get(name);
    if (!p || rt(p.def) !== c.def) out.push(`drop trigger ${ident(name)} on ${target}`);
  }
  for (const [name, p] of pub.triggers) {
    const c = cur.triggers.get(name);
    const fresh = !c || rt(p.def) !== c.def;
    if (fresh) out.push(rt(p.def));
    if ((fresh ? 'O' : c.enabled) !== p.enabled) {
      out.push(`alter table ${target} ${ENABLE_TRIGGER[p.enabled] ?? 'enable'} trigger ${ident(name)}`);
    }
  }
  return out;
}

/** Row level security (ENABLE, FORCE) and the policies, identical to public's. */
export function securityChanges(target: string, pub: TableShape, cur: TableShape, rt: Retarget): string[] {
  const out: string[] = [];
  if (pub.rls !== cur.rls)
    out.push(`alter table ${target} ${pub.rls ? 'enable' : 'disable'} row level security`);
  if (pub.forced !== cur.forced)
    out.push(`alter table ${target} ${pub.forced ? '' : 'no '}force row level security`);
  for (const [name, clauses] of cur.policies) {
    const p = pub.policies.get(name);
    if (p === undefined || rt(p) !== clauses) out.push(`drop policy ${ident(name)} on ${target}`);
  }
  for (const [name, clauses] of pub.policies) {
    if (cur.policies.get(name) !== rt(clauses))
      out.push(`create policy ${ident(name)} on ${target} ${rt(clauses)}`);
  }
  return out;
}

/** The table's ACL and its columns' ACLs: the same privileges for the same roles. Entries are
 *  `[column] grantee PRIVILEGE grantable`, grantees already quoted (or `public`). */
export function aclChanges(target: string, pub: TableShape, cur: TableShape): string[] {
  const out: string[] = [];
  const diff = (want: Set<string>, have: Set<string>, column: boolean) => {
    const parse = (entry: string) => {
      const parts = entry.split(' ');
      const [grantable, privilege] = [parts.pop() === 'true', parts.pop()!];
      const grantee = parts.pop()!;
      return {
        on: column
          ? `${privilege} (${parts.join(' ')}) on table ${target}`
          : `${privilege} on table ${target}`,
        grantee,
        grantable,
      };
    };
    for (const e of have) {
      if (want.has(e)) continue;
      const x = parse(e);
      out.push(`revoke ${x.on} from ${x.grantee}`);
    }
    for (const e of want) {
      if (have.has(e)) continue;
      const x = parse(e);
      out.push(`grant ${x.on} to ${x.grantee}${x.grantable ? ' with grant option' : ''}`);
    }
  };
  diff(pub.acl, cur.acl, false);
  diff(pub.columnAcl, cur.columnAcl, true);
  return out;
}
