import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';
import type { Database } from './schema.js';

/**
 * A statement built with Kysely ONCE and then run with new parameter values: `(db, params) => result`,
 * Kysely's `{ rows }` (not the rows alone: the caller's own `await` unwraps it, no extra promise per call).
 *
 * Why: Kysely builds an operation tree and compiles it to SQL on every call, the same text each time; on
 * a hot read that is a large share of the application's own CPU (issue 10). Here the builder runs once
 * per database handle, with a sentinel in place of each named parameter; the compiled parameter list
 * then says, position by position, which named value goes where. Each call only fills that list and
 * hands the compiled SQL to the handle (inside a tenant scope: straight to the scope's connection, as
 * any Kysely query). The SQL text is the one Kysely would have built, so it is as typed and as filtered
 * (`organization_id` explicitly) as the builder says.
 *
 * Rules, checked when the statement is first compiled (a mistake throws at once, never runs wrong SQL):
 * - a parameter read by the builder must reach the compiled statement unchanged (use it as a value, do
 *   not compute with it: `p.limit + 1` or `new Date(p.at)` would be compiled as a constant);
 * - values the builder writes itself (`'active'`, `100`) stay constants of the statement;
 * - a list parameter must be ONE value (`= any(${p.ids})`), not spread by Kysely into `in ($1, $2, ...)`,
 *   whose length would be frozen at its first build.
 */
export type PrecompiledStatement<DB, P, O> = (db: DB, params: P) => Promise<QueryResult<O>>;

/** A value no caller can pass: NUL is refused in PostgreSQL text, so it is never a real parameter. */
const SENTINEL_PREFIX = '\u0000sr-param:';

interface Compiled {
  readonly template: CompiledQuery;
  /** Per position of the compiled parameter list: the name of the value to put there, or undefined. */
  readonly slots: readonly (string | undefined)[];
  /** Per position: the builder's own constant (where `slots` has no name). */
  readonly constants: readonly unknown[];
}

/**
 * Defines a precompiled statement. `build` receives the handle and the parameters (sentinels during the
 * one build) and returns a Kysely query; annotate its `params` to type the statement:
 *
 *     const findProject = precompiled((db: TenantDb, p: { tenantId: string; id: string }) =>
 *       db.selectFrom('projects').selectAll().where('organization_id', '=', p.tenantId).where('id', '=', p.id));
 *     const { rows } = await findProject(db, { tenantId, id });
 */
export function precompiled<DB extends Kysely<Database>, P extends object, O>(
  build: (db: DB, params: P) => Compilable<O>,
): PrecompiledStatement<DB, P, O> {
  const byHandle = new WeakMap<DB, Compiled>();
  // The last handle and its statement: an application has one handle per database, so this is the hit.
  let lastDb: DB | undefined;
  let last: Compiled | undefined;

  return (db, params) => {
    let c = db === lastDb ? last : byHandle.get(db);
    if (c === undefined) {
      try {
        c = compile(db, build);
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      byHandle.set(db, c);
    }
    lastDb = db;
    last = c;
    const { slots, constants } = c;
    const values = new Array<unknown>(slots.length);
    for (let i = 0; i < slots.length; i++) {
      const name = slots[i];
      values[i] = name === undefined ? constants[i] : (params as Record<string, unknown>)[name];
    }
    const query: CompiledQuery = { ...c.template, parameters: values };
    return db.executeQuery<O>(query);
  };
}

function compile<DB extends Kysely<Database>, P extends object, O>(
  db: DB,
  build: (db: DB, params: P) => Compilable<O>,
): Compiled {
  const read = new Map<string, string>(); // sentinel -> name
  const sentinels = new Proxy({} as P, {
    get(_target, key) {
      if (typeof key !== 'string') return undefined;
      const sentinel = `${SENTINEL_PREFIX}${key}\u0000`;
      read.set(sentinel, key);
      return sentinel;
    },
  });
  const template = build(db, sentinels).compile();
  const slots: (string | undefined)[] = [];
  const constants: unknown[] = [];
  const used = new Set<string>();
  for (const value of template.parameters) {
    const name = typeof value === 'string' ? read.get(value) : undefined;
    if (name !== undefined) {
      slots.push(name);
      constants.push(undefined);
      used.add(name);
    } else if (typeof value === 'string' && value.includes(SENTINEL_PREFIX)) {
      throw new Error(
        `precompiled statement: a parameter was changed by the builder (${JSON.stringify(value)})`,
      );
    } else {
      slots.push(undefined);
      constants.push(value);
    }
  }
  for (const name of read.values()) {
    if (!used.has(name)) {
      throw new Error(
        `precompiled statement: parameter '${name}' does not reach the SQL as a value (computed with, or unused)`,
      );
    }
  }
  if (template.sql.includes(SENTINEL_PREFIX)) {
    throw new Error('precompiled statement: a parameter was compiled into the SQL text');
  }
  return { template, slots, constants };
}
