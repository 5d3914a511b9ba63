import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { RoleNames } from '../../src/platform/db/bootstrap.js';
import { knownMigrations } from '../../src/platform/db/migrate.js';
import { createBareOrganization } from '../../src/modules/organizations/organization-records.js';
import { uuidv7 } from '../../src/platform/ids.js';
import type { Tenancy } from '../../src/platform/tenancy/tenancy.js';
import { placedTables, tenantSchemaName } from '../../src/platform/tenancy/placed-tables.js';
import {
  dropPlacementSchema,
  syncPlacementSchema,
  type PlacementSyncResult,
} from '../../src/platform/tenancy/placement-schema.js';

/**
 * TEST ONLY: places organization `orgId` in its own schema, offline. Syncs the schema (as the owner,
 * `ownerUrl`), then in ONE transaction as the superuser (`adminUrl`: superuser connected to the test
 * database), with `session_replication_role = replica` (no triggers: append-only audit rows can move, and
 * foreign keys are not checked mid-move), copies every placed table's rows of the organization from
 * `public` to the schema, deletes them from `public`, and records the placement (kind `schema`,
 * schema_version = the latest migration). Nothing else may write the organization's rows meanwhile: the
 * real, online move is not this.
 *
 * The app's placement cache still routes the organization to `public` until the CALLER invalidates it:
 * `tenancy.router.invalidate(orgId)` (every router that may have cached it).
 */
export async function placeInSchema(
  adminUrl: string,
  ownerUrl: string,
  roles: RoleNames,
  orgId: string,
): Promise<PlacementSyncResult> {
  const synced = await asOwner(ownerUrl, (owner) => syncPlacementSchema(owner, orgId, roles));
  await moveRows(adminUrl, orgId, 'public', synced.schema, async (admin) => {
    await admin.query(
      `insert into public.tenant_placements (organization_id, kind, schema_version, state, database_key)
       values ($1, 'schema', $2, 'active', null)
       on conflict (organization_id) do update
         set kind = 'schema', schema_version = $2, state = 'active', database_key = null, updated_at = now()`,
      [orgId, knownMigrations().at(-1)],
    );
  });
  return synced;
}

/**
 * TEST ONLY: the way back. Moves the organization's rows from its schema to `public` (as `placeInSchema`
 * does), records it pooled, and drops the schema. The caller invalidates the placement cache.
 */
export async function placeInPooled(adminUrl: string, ownerUrl: string, orgId: string): Promise<void> {
  await moveRows(adminUrl, orgId, tenantSchemaName(orgId), 'public', async (admin) => {
    await admin.query(
      `update public.tenant_placements
          set kind = 'pooled', schema_version = null, state = 'active', updated_at = now()
        where organization_id = $1`,
      [orgId],
    );
  });
  await asOwner(ownerUrl, (owner) => dropPlacementSchema(owner, orgId));
}

async function asOwner<T>(ownerUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ownerUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** The stored (not generated) columns of `public.<table>`, quoted and comma-separated in their order. */
async function storedColumns(client: pg.Client, table: string): Promise<string> {
  const cols = await client.query<{ list: string }>(
    `select string_agg(quote_ident(attname), ', ' order by attnum) as list from pg_catalog.pg_attribute
      where attrelid = format('public.%I', $1::text)::regclass and attnum > 0 and not attisdropped
        and attgenerated = ''`,
    [table],
  );
  return cols.rows[0]!.list;
}

/** Copies then deletes every placed table's rows of the organization, `from` → `to`, and runs `record`,
 *  in one transaction without triggers. Generated columns are left to be computed. */
async function moveRows(
  adminUrl: string,
  orgId: string,
  from: string,
  to: string,
  record: (admin: pg.Client) => Promise<void>,
): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query('begin');
    await admin.query('set local session_replication_role = replica');
    for (const table of await placedTables(admin)) {
      const list = await storedColumns(admin, table);
      const [src, dst] = [`"${from}"."${table}"`, `"${to}"."${table}"`];
      await admin.query(
        `insert into ${dst} (${list}) select ${list} from ${src} where organization_id = $1`,
        [orgId],
      );
      await admin.query(`delete from ${src} where organization_id = $1`, [orgId]);
    }
    await record(admin);
    await admin.query('commit');
  } catch (err) {
    await admin.query('rollback');
    throw err;
  } finally {
    await admin.end();
  }
}

/** An organization with a random slug made through `tenancy` (pooled until placed): its id. */
export async function newPlacementOrg(tenancy: Tenancy, prefix: string): Promise<string> {
  const org = await createBareOrganization(tenancy.withTenant, {
    slug: `${prefix}-${randomBytes(5).toString('hex')}`,
    name: prefix,
  });
  return org.id;
}

/** A project of `org`, written through its placement. */
export function addPlacementProject(tenancy: Tenancy, org: string, name: string): Promise<{ id: string }> {
  return tenancy.withTenant(org, (t) =>
    t
      .insertInto('projects')
      .values({ organization_id: org, id: uuidv7(), name })
      .returning('id')
      .executeTakeFirstOrThrow(),
  );
}

/**
 * TEST ONLY: places organization `orgId` in the tenant database `databaseKey` (a `database` placement),
 * offline. As the superusers of both databases (`controlAdminUrl`, `tenantAdminUrl`), without triggers:
 * a copy of its `organizations` row is inserted into the tenant database (its placed rows there reference
 * it by foreign key), every placed table's rows of it are moved from the control database to the tenant
 * database (copied, committed there, then deleted from the control database; the tenant database's
 * sequences moved past the copied ids), and its placement recorded
 * (kind `database`). Its directory rows (memberships, invitations, API keys...) stay where they are, in the
 * control database. Nothing else may write the organization's rows meanwhile. The caller invalidates the
 * placement cache (`tenancy.router.invalidate(orgId)`).
 */
export async function placeInDatabase(
  controlAdminUrl: string,
  tenantAdminUrl: string,
  databaseKey: string,
  orgId: string,
): Promise<void> {
  const control = new pg.Client({ connectionString: controlAdminUrl });
  const tenant = new pg.Client({ connectionString: tenantAdminUrl });
  await control.connect();
  try {
    await tenant.connect();
    await control.query('begin');
    await control.query('set local session_replication_role = replica');
    await tenant.query('begin');
    await tenant.query('set local session_replication_role = replica');
    const copy = async (table: string) => {
      const list = await storedColumns(control, table);
      const key = table === 'organizations' ? 'id' : 'organization_id';
      const rows = await control.query<{ rows: unknown }>(
        `select coalesce(json_agg(r), '[]'::json) as rows from (select ${list} from public.${table}
          where ${key} = $1) r`,
        [orgId],
      );
      await tenant.query(
        `insert into public.${table} (${list})
         select ${list} from json_populate_recordset(null::public.${table}, $1::json)`,
        [JSON.stringify(rows.rows[0]!.rows)],
      );
      // Ids drawn from a sequence of the control database: the tenant database's sequence moves past them
      // (its next ids must not collide with the copied ones).
      const seqs = await tenant.query<{ col: string; seq: string }>(
        `select quote_ident(attname) as col, pg_get_serial_sequence(format('public.%I', $1::text), attname) as seq
           from pg_catalog.pg_attribute
          where attrelid = format('public.%I', $1::text)::regclass and attnum > 0 and not attisdropped
            and pg_get_serial_sequence(format('public.%I', $1::text), attname) is not null`,
        [table],
      );
      for (const { col, seq } of seqs.rows) {
        await tenant.query(
          `select setval($1::regclass, greatest((select last_value from ${seq}), (select max(${col}) from public.${table}))::bigint)`,
          [seq],
        );
      }
    };
    await copy('organizations');
    for (const table of await placedTables(control)) {
      await copy(table);
      await control.query(`delete from public.${table} where organization_id = $1`, [orgId]);
    }
    await control.query(
      `update public.tenant_placements set kind = 'database', database_key = $2, schema_version = null,
              state = 'active', updated_at = now()
        where organization_id = $1`,
      [orgId, databaseKey],
    );
    // The tenant database's copy first: a failure after it leaves rows in both, never in neither.
    await tenant.query('commit');
    await control.query('commit');
  } catch (err) {
    await tenant.query('rollback').catch(() => undefined);
    await control.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    await tenant.end().catch(() => undefined);
    await control.end();
  }
}
