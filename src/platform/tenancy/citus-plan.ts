import { citusClassification, type CitusTableClass } from './citus-tables.js';
import { triggerDecisions, type CitusTriggerDecision } from './citus-triggers.js';

/**
 * The plan of `npx saasready citus distribute` (docs/citus.md): the SQL that turns a migrated SaaSReady
 * database on a Citus coordinator into a distributed one, in an order Citus accepts:
 *   1. the coordinator's settings (`citus.propagate_set_commands = 'local'`: the tenant setter's
 *      `SET LOCAL app.tenant_id` reaches the workers);
 *   2. the definer role may log in from the coordinator (SECURITY DEFINER functions open worker
 *      connections as their owner): LOGIN, a password generated at run time, kept in pg_dist_authinfo;
 *   3. the triggers of the tables to distribute: guards dropped, behaviour moved (citus-triggers.ts);
 *   4. reference tables, referenced ones first;
 *   5. distributed tables by organization_id, all colocated with the first, referenced ones first (the
 *      partitioned usage_events as its parent: its partitions follow);
 *   6. coordinator-local tables (citus_add_local_table_to_metadata: they may then reference reference
 *      tables), referenced ones first.
 * Read from the catalog and from what Citus already did (pg_dist_partition, the settings, the role):
 * a step already done is left out, so the command is idempotent. Deterministic: ties in name order.
 */

type Queryable = { query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }> };

export type CitusStepKind = 'setting' | 'definer' | 'trigger' | 'reference' | 'distributed' | 'local';

export interface CitusStep {
  readonly kind: CitusStepKind;
  /** The table the step is about (tables and triggers), checked again just before it runs. */
  readonly table?: string;
  /** The statements, in order. `:definer_password` stands for the password generated at run time. */
  readonly sql: readonly string[];
  readonly why: string;
}

export interface CitusPlan {
  readonly citus: boolean;
  readonly steps: readonly CitusStep[];
  /** Behaviour triggers not yet moved: the command refuses to run while there is one. */
  readonly blocked: readonly CitusTriggerDecision[];
}

export interface CitusPlanRoles {
  readonly runtime: string;
  readonly definer: string;
}

export const DEFINER_PASSWORD = ':definer_password';

const ident = (s: string) => `"${s.replaceAll('"', '""')}"`;
const literal = (s: string) => `'${s.replaceAll("'", "''")}'`;
/** A table of public as Citus's functions take it: the string literal of its quoted name (a regclass
 *  text), so a quote in a table name can end neither the identifier nor the literal. */
const tableArg = (t: string) => literal(`public.${ident(t)}`);

/** Tables in an order where each comes after every table of `set` it references (ties by name). */
export function referencedFirst(
  tables: readonly string[],
  fks: readonly { from: string; to: string }[],
): string[] {
  const set = new Set(tables);
  const needs = new Map(tables.map((t) => [t, new Set<string>()]));
  for (const fk of fks)
    if (fk.from !== fk.to && set.has(fk.to) && set.has(fk.from)) needs.get(fk.from)!.add(fk.to);
  const done: string[] = [];
  const left = [...tables].sort();
  while (left.length > 0) {
    const i = left.findIndex((t) => [...needs.get(t)!].every((n) => done.includes(n)));
    if (i < 0) throw new Error(`citus: foreign keys form a cycle among ${left.join(', ')}`);
    done.push(...left.splice(i, 1));
  }
  return done;
}

async function citusInstalled(q: Queryable): Promise<boolean> {
  const res = await q.query(`select 1 from pg_catalog.pg_extension where extname = 'citus'`);
  return res.rows.length > 0;
}

/** Tables of public Citus already knows (empty without Citus). */
export async function citusTablesDone(q: Queryable): Promise<Set<string>> {
  if (!(await citusInstalled(q))) return new Set();
  const res = await q.query(
    `select c.relname::text as t from pg_dist_partition d join pg_catalog.pg_class c on c.oid = d.logicalrelid
      where c.relnamespace = 'public'::regnamespace`,
  );
  return new Set((res.rows as { t: string }[]).map((r) => r.t));
}

/** The plan for the connected database (dry run or not: the same statements). */
export async function citusPlan(q: Queryable, roles: CitusPlanRoles): Promise<CitusPlan> {
  const citus = await citusInstalled(q);
  const classes: CitusTableClass[] = await citusClassification(q);
  const done = await citusTablesDone(q);
  const fks = (
    await q.query(
      `select distinct c.relname::text as "from", r.relname::text as "to"
         from pg_catalog.pg_constraint k
         join pg_catalog.pg_class c on c.oid = k.conrelid
         join pg_catalog.pg_class r on r.oid = k.confrelid
        where k.contype = 'f' and c.relnamespace = 'public'::regnamespace
          and r.relnamespace = 'public'::regnamespace and not c.relispartition`,
    )
  ).rows as { from: string; to: string }[];
  const steps: CitusStep[] = [];

  const db = ((await q.query('select current_database() as d')).rows[0] as { d: string }).d;
  const setting = (
    await q.query(
      `select 1 from pg_catalog.pg_db_role_setting s join pg_catalog.pg_database d on d.oid = s.setdatabase
        where d.datname = current_database() and s.setrole = 0
          and 'citus.propagate_set_commands=local' = any (s.setconfig)`,
    )
  ).rows.length;
  if (!setting) {
    steps.push({
      kind: 'setting',
      sql: [`alter database ${ident(db)} set citus.propagate_set_commands = 'local'`],
      why: "the tenant setter's SET LOCAL app.tenant_id reaches the workers only with this setting",
    });
  }

  const definer = (
    await q.query(
      `select r.rolcanlogin as login, ${
        citus
          ? `exists (select 1 from pg_dist_authinfo a where a.rolename = r.rolname and a.nodeid = 0)`
          : 'false'
      } as authinfo from pg_catalog.pg_roles r where r.rolname = $1`,
      [roles.definer],
    )
  ).rows[0] as { login: boolean; authinfo: boolean } | undefined;
  if (!definer) throw new Error(`citus: no definer role ${roles.definer}`);
  if (!definer.login || !definer.authinfo) {
    steps.push({
      kind: 'definer',
      sql: [
        `alter role ${ident(roles.definer)} login password ${DEFINER_PASSWORD}`,
        `delete from pg_dist_authinfo where rolename = ${literal(roles.definer)} and nodeid = 0`,
        `insert into pg_dist_authinfo (nodeid, rolename, authinfo)
  values (0, ${literal(roles.definer)}, 'password=' || ${DEFINER_PASSWORD})`,
      ],
      why:
        'SECURITY DEFINER functions run their distributed queries as the definer role, which the coordinator ' +
        'must log in as on each worker: a password generated here, known only to the coordinator ' +
        '(pg_dist_authinfo); pg_hba.conf of each worker admits the role from the coordinator only',
    });
  }

  const toMove = classes.filter((c) => c.kind !== 'local' && !done.has(c.table)).map((c) => c.table);
  const triggers = (
    await q.query(
      `select c.relname::text as "table", t.tgname::text as trigger
         from pg_catalog.pg_trigger t join pg_catalog.pg_class c on c.oid = t.tgrelid
        where not t.tgisinternal and c.relnamespace = 'public'::regnamespace and c.relname = any ($1)
        order by 1, 2`,
      [toMove],
    )
  ).rows as { table: string; trigger: string }[];
  const decisions = triggerDecisions(triggers);
  for (const d of decisions.filter((x) => x.action !== 'blocked')) {
    steps.push({
      kind: 'trigger',
      table: d.table,
      sql: [
        `drop trigger ${ident(d.trigger)} on public.${ident(d.table)}`,
        ...(d.statements?.({ runtime: roles.runtime }) ?? []),
      ],
      why: `${d.trigger}: ${d.why}`,
    });
  }

  const byKind = (kind: CitusTableClass['kind']) =>
    referencedFirst(
      classes.filter((c) => c.kind === kind).map((c) => c.table),
      fks,
    );
  const why = new Map(classes.map((c) => [c.table, c.why]));
  for (const t of byKind('reference')) {
    if (done.has(t)) continue;
    steps.push({
      kind: 'reference',
      table: t,
      sql: [`select create_reference_table(${tableArg(t)})`],
      why: why.get(t)!,
    });
  }
  const distributed = byKind('distributed');
  const [first] = distributed;
  for (const t of distributed) {
    if (done.has(t)) continue;
    // The first starts the colocation group (its own, 'none'); every other joins it: a tenant's rows of
    // every table are on the same shard, so joins and foreign keys between them stay on one node.
    const colocate = t === first ? 'none' : `public.${ident(first!)}`;
    steps.push({
      kind: 'distributed',
      table: t,
      sql: [
        `select create_distributed_table(${tableArg(t)}, 'organization_id', colocate_with => ${literal(colocate)})`,
      ],
      why: why.get(t)!,
    });
  }
  for (const t of byKind('local')) {
    if (done.has(t)) continue;
    steps.push({
      kind: 'local',
      table: t,
      sql: [`select citus_add_local_table_to_metadata(${tableArg(t)})`],
      why: why.get(t)!,
    });
  }
  return { citus, steps, blocked: decisions.filter((d) => d.action === 'blocked') };
}

/** The plan as SQL text, each step with its reason as a comment. */
export function planText(plan: CitusPlan): string {
  const lines: string[] = [];
  for (const b of plan.blocked) {
    lines.push(`-- BLOCKED: trigger ${b.trigger} on ${b.table}: ${b.why}`);
  }
  for (const s of plan.steps) {
    lines.push(`-- ${s.kind}${s.table ? ` ${s.table}` : ''}: ${s.why}`);
    for (const stmt of s.sql) lines.push(`${stmt};`);
  }
  if (plan.steps.length === 0) lines.push('-- nothing to do: every table is already where the plan puts it');
  return `${lines.join('\n')}\n`;
}
