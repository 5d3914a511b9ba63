import type pg from 'pg';
import type { RoleNames } from '../db/bootstrap.js';
import { readSchemaShape } from './placement-catalog.js';
import {
  aclChanges,
  columnChanges,
  createTable,
  ident,
  missingConstraints,
  missingIndexes,
  securityChanges,
  staleConstraintsAndIndexes,
  triggerChanges,
  type Retarget,
} from './placement-ddl.js';
import { placedTables, tenantSchemaName } from './placed-tables.js';

/** The check constraint on every placed table of an organization's schema: no row of another
 *  organization can be stored there, whatever writes it (a definer function, a bug in a move). */
export const PLACEMENT_CHECK = 'placement_organization_check';

/**
 * The placement DDL lock: ONE transaction-level advisory lock key for the whole database. Every DDL step
 * on placement schemas takes it EXCLUSIVELY as the first statement of its transaction (a schema's
 * synchronization: `syncPlacementSchema`, from a move's copy, `npx saasready migrate` or `npm start`; a
 * schema's DROP: `dropPlacementSchema`, from a move's cleanup or abort or an organization's deletion);
 * a move's data steps (copy, catch-up, switch and discard batches) take it SHARED, first in theirs.
 * Requests never take it.
 *
 * Why: a schema's foreign keys reference public tables (organizations, users, plans, feature_flags). A
 * data step inserting a row checks its foreign keys one after the other (ROW SHARE on users, then on
 * organizations, ...); a DROP SCHEMA drops another schema's keys and takes ACCESS EXCLUSIVE on the same
 * public tables in another order (organizations, then users, ...); a synchronization adds keys (SHARE ROW
 * EXCLUSIVE) in yet its own. Two such transactions each held one table the other waited for: "deadlock
 * detected". Under the lock, DDL runs alone and data steps run among themselves only.
 */
export const PLACEMENT_DDL_LOCK_SQL = `hashtextextended('placement-ddl', 0)`;

export interface PlacementSyncResult {
  /** `t_<uuid in 32 hex>` */
  readonly schema: string;
  /** The statements run, in order (empty when the schema was already identical to public's). */
  readonly changes: readonly string[];
}

/**
 * Makes the schema of organization `orgId` hold every PLACED table (placed-tables.ts) structurally
 * identical to `public`'s, from the catalog of `public`: columns (types, defaults, not null, identity,
 * generation), primary key, unique, check, exclusion and foreign key constraints (a reference to a placed
 * table points to the same schema, any other stays on `public`), indexes, triggers (the same functions),
 * ENABLE + FORCE row level security and the same policies, the same table and column privileges, and for
 * a partitioned table the same partition key and partitions. Plus, on each placed table, a check that
 * `organization_id` is this organization. Creates the schema (owned by the owner role, USAGE for the
 * roles that have it on `public`) when it does not exist.
 *
 * Why not replay migrations into the schema: they mix global DDL, functions and data backfills; the
 * migrated catalog of `public` is the one source. Idempotent: a second call runs nothing; a call after a
 * migration changed `public` brings the schema up to it. Data is never migrated: a change `public` got
 * with a backfill (a new NOT NULL column without a default) fails here on a non-empty table, in one
 * transaction that then changes nothing.
 *
 * Runs as the OWNER role (`owner` must be a connection of it, outside any transaction: this opens its
 * own), under the placement DDL lock taken exclusively (`PLACEMENT_DDL_LOCK_SQL`): one placement DDL
 * transaction at a time in the database, and none while a move's data step runs.
 */
export async function syncPlacementSchema(
  owner: pg.ClientBase,
  orgId: string,
  roles: RoleNames,
): Promise<PlacementSyncResult> {
  const schema = tenantSchemaName(orgId);
  const changes: string[] = [];
  const run = async (statements: readonly string[]) => {
    for (const s of statements) {
      await owner.query(s);
      changes.push(s);
    }
  };
  await owner.query('begin');
  try {
    // The placement DDL lock first; every name the deparsers print is then qualified (placement-catalog.ts).
    await owner.query(`select pg_advisory_xact_lock(${PLACEMENT_DDL_LOCK_SQL})`);
    await owner.query(`select set_config('search_path', 'pg_catalog', true)`);
    await run(await schemaChanges(owner, schema, roles));

    const placed = await placedTables(owner);
    const pub = await readSchemaShape(owner, 'public');
    const moved = new Set<string>();
    for (const t of pub.values()) if (placed.includes(t.parent ?? t.name)) moved.add(t.name);
    const rt: Retarget = (def) =>
      def.replace(/\bpublic\.([a-z_][a-z0-9_$]*)/g, (m, name: string) =>
        moved.has(name) ? `${schema}.${name}` : m,
      );
    const target = (name: string) => `${schema}.${ident(name)}`;

    // 1. Tables, their columns and partitions; tables no longer placed go.
    let cur = await readSchemaShape(owner, schema);
    for (const name of placed) {
      const p = pub.get(name)!;
      const c = cur.get(name);
      await run(c ? columnChanges(target(name), p, c, rt) : [createTable(target(name), schema, p, rt)]);
    }
    for (const t of cur.values()) {
      if (!moved.has(t.name)) {
        // A table public no longer places (renamed, declared directory, dropped) goes, but never with the
        // organization's rows: public kept them through a rename or re-declaration, so they must move first.
        // (A partition public dropped, its parent still placed, goes as public's did.)
        if (t.parent === null || !moved.has(t.parent)) await refuseIfRows(owner, target(t.name), t.name);
        await run([`drop table if exists ${target(t.name)} cascade`]);
      } else if (t.parent !== null && pub.get(t.name)?.bound !== t.bound) {
        await run([`drop table ${target(t.name)}`]);
      }
    }
    cur = await readSchemaShape(owner, schema);
    for (const p of pub.values()) {
      if (p.parent !== null && moved.has(p.name) && !cur.has(p.name)) {
        await run([createTable(target(p.name), schema, p, rt)]);
      }
    }

    // 2. Constraints and indexes: stale ones out, missing ones in, foreign keys last.
    cur = await readSchemaShape(owner, schema);
    const keep = new Set([PLACEMENT_CHECK]);
    for (const name of placed) {
      await run(staleConstraintsAndIndexes(target(name), schema, pub.get(name)!, cur.get(name)!, rt, keep));
    }
    cur = await readSchemaShape(owner, schema);
    for (const name of placed) {
      const p = pub.get(name)!;
      const c = cur.get(name)!;
      await run(missingConstraints(target(name), p, c, rt, false));
      await run(missingIndexes(p, c, rt));
      if (!c.constraints.has(PLACEMENT_CHECK)) {
        await run([
          `alter table ${target(name)} add constraint ${PLACEMENT_CHECK} check (organization_id = '${orgId}'::uuid)`,
        ]);
      }
    }
    for (const name of placed)
      await run(missingConstraints(target(name), pub.get(name)!, cur.get(name)!, rt, true));

    // 3. Triggers, row level security, policies, privileges (partitions have their own RLS and ACL).
    cur = await readSchemaShape(owner, schema);
    for (const name of moved) {
      const p = pub.get(name)!;
      const c = cur.get(name)!;
      if (p.parent === null) await run(triggerChanges(target(name), p, c, rt));
      await run(securityChanges(target(name), p, c, rt));
      await run(aclChanges(target(name), p, c));
    }
    await owner.query('commit');
  } catch (err) {
    await owner.query('rollback');
    throw err;
  }
  return { schema, changes };
}

/** Fails the sync (so it changes nothing) when `target`, about to be dropped, holds rows. RLS is forced on
 *  the owner too (with no policy for it: it sees nothing), so it is lifted first, in this transaction, on
 *  a table that either goes or makes the sync roll back. */
async function refuseIfRows(owner: pg.ClientBase, target: string, name: string): Promise<void> {
  await owner.query(`alter table ${target} no force row level security`);
  const res = await owner.query<{ rows: boolean }>(`select exists (select from ${target}) as rows`);
  if (res.rows[0]?.rows) {
    throw new Error(
      `placement sync: ${name} is no longer a placed table of public but holds rows in ${target}: ` +
        'move or delete them first (a sync never drops data)',
    );
  }
}

/** Creates the schema if needed; USAGE exactly for the roles that have it on `public` (its owner aside);
 *  CREATE for nobody but its owner: whatever another role created there would shadow public's relations
 *  and functions of the same name for the organization (its search path puts the schema first). */
async function schemaChanges(owner: pg.ClientBase, schema: string, roles: RoleNames): Promise<string[]> {
  const res = await owner.query<{
    exists: boolean;
    owner: string | null;
    want: string[];
    have: string[];
    create: string[];
  }>(
    `with acl as (
       select n.nspname, x.privilege_type as p,
              case when x.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(x.grantee)) end as r
         from pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) x
        where n.nspname in ('public', $1) and x.grantee <> n.nspowner)
     select exists (select 1 from pg_namespace where nspname = $1) as exists,
            (select pg_get_userbyid(nspowner) from pg_namespace where nspname = $1) as owner,
            array(select r from acl where nspname = 'public' and p = 'USAGE' order by 1) as want,
            array(select r from acl where nspname = $1 and p = 'USAGE' order by 1) as have,
            array(select r from acl where nspname = $1 and p = 'CREATE' order by 1) as create`,
    [schema],
  );
  const { exists, owner: by, want, have, create } = res.rows[0]!;
  // A schema of that name made by another role: its owner could replace or shadow anything in it.
  if (exists && by !== roles.owner) {
    throw new Error(`placement sync: schema ${schema} exists but is owned by ${by}, not ${roles.owner}`);
  }
  const out = exists ? [] : [`create schema ${schema} authorization ${ident(roles.owner)}`];
  const self = ident(roles.owner);
  for (const r of create) out.push(`revoke create on schema ${schema} from ${r}`);
  for (const r of have) if (!want.includes(r)) out.push(`revoke usage on schema ${schema} from ${r}`);
  for (const r of want)
    if (!have.includes(r) && r !== self) out.push(`grant usage on schema ${schema} to ${r}`);
  return out;
}

/** Drops an organization's schema and everything in it (its rows must have moved out first), in its own
 *  transaction under the placement DDL lock taken exclusively (`owner`: outside any transaction). */
export async function dropPlacementSchema(owner: pg.ClientBase, orgId: string): Promise<boolean> {
  const schema = tenantSchemaName(orgId);
  await owner.query('begin');
  try {
    await owner.query(`select pg_advisory_xact_lock(${PLACEMENT_DDL_LOCK_SQL})`);
    const res = await owner.query<{ exists: boolean }>(
      'select exists (select 1 from pg_catalog.pg_namespace where nspname = $1) as exists',
      [schema],
    );
    if (res.rows[0]?.exists) await owner.query(`drop schema ${schema} cascade`);
    await owner.query('commit');
    return res.rows[0]?.exists ?? false;
  } catch (err) {
    await owner.query('rollback');
    throw err;
  }
}

/** {@link dropPlacementSchema} on a connection of `ownerPool` (the migration owner's). */
export async function dropSchemaAsOwner(ownerPool: pg.Pool, orgId: string): Promise<boolean> {
  const c = await ownerPool.connect();
  try {
    return await dropPlacementSchema(c, orgId);
  } finally {
    c.release();
  }
}
