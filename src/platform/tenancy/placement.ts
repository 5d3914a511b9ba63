import { inAbortedTransaction, pipelinedQuery } from './pipelined-query.js';
import { tenantCacheKeyMemo, type CacheKey } from './cache-keys.js';
import { TenancyError } from './errors.js';
import { createTenantDatabase, type TenantDatabase } from './tenant-database.js';
import { DIRECTORY_TABLES, tenantSchemaName } from './placed-tables.js';
import { createStatementHomes, type StatementHomes } from './statement-home.js';
import { POOLED_SETTERS, type TenantSetters } from './tenant-setters.js';
import { latestMigration } from '../db/migrate.js';

/** Where a tenant's rows live. `pooled` (the default) is the shared schema of the control database;
 *  `schema`, the organization's own schema `t_<uuid in 32 hex>` of the control database (its PLACED
 *  tables, placed-tables.ts); `database`, a configured dedicated database. */
export type PlacementKind = 'pooled' | 'schema' | 'database';

/** `moving` while an online move of the organization runs. */
export type PlacementState = 'active' | 'moving';

export interface PlacementRecord {
  readonly kind: PlacementKind;
  /** For `database` placements: the key of a configured tenant database. */
  readonly databaseKey: string | null;
  /** For `schema` placements: the organization's schema, derived from its id (never stored). */
  readonly schema: string | null;
  readonly state: PlacementState;
  /** A schema placement not synchronized to this server's latest migration (see `route`). */
  readonly behind?: boolean;
  /** A schema placement whose schema does not exist (see `route`). */
  readonly missing?: boolean;
  /** For `schema` placements: the tables its schema holds (its reads name them, schema-qualifier.ts). */
  readonly tables?: readonly string[];
}

/** Resolves a tenant to the database that holds its rows. */
export interface PlacementRouter {
  resolve(tenantId: string): Promise<TenantDatabase>;
  /** The tenant's database if its placement is cached and fresh, else undefined: no I/O, no promise. */
  cached(tenantId: string): TenantDatabase | undefined;
  /** Forgets a cached placement (after a tenant is moved), including a lookup still in flight. */
  invalidate(tenantId: string): void;
  /** The scope target of a configured tenant database, for an organization being created there (it has
   *  no placement yet): its directory side included. PLACEMENT_UNSUPPORTED for a key not configured. */
  database?(key: string): Promise<TenantDatabase>;
}

export interface PlacementRouterOptions {
  /** The control database: holds `tenant_placements` and every pooled tenant. */
  readonly control: TenantDatabase;
  /** Dedicated databases by key, for `database` placements: the configured tenant database pools
   *  (tenant-database-pools.ts), or any map. Asked on every routed scope: a lookup, no I/O. */
  readonly databases?: { get(key: string): TenantDatabase | undefined };
  /** How long a placement is trusted without reading it again (default 60 s). */
  readonly ttlMs?: number;
  /** Placements kept at most (default 100,000); beyond it the oldest entries are dropped first. */
  readonly max?: number;
  /** The migration a schema placement must be synchronized to (default: the latest this code knows). */
  readonly schemaVersion?: string;
  /** How schema-placed and moving organizations set the tenant (default: plain PostgreSQL's); the
   *  control database's own setter is `control.setter`. */
  readonly setters?: TenantSetters;
  /** `database` placements reach the control database for their directory and global tables
   *  (split-connection.ts; default true). False: every statement on the tenant database (tests of the
   *  pools alone). */
  readonly splitDirectory?: boolean;
}

/** Every relation of the control database's `public`, and whether it is placed (has `organization_id`
 *  and is not directory): how a `database` placement's statements find their database. */
const HOMES_SQL = `select c.relname::text as name,
    (c.relname <> all ($1::text[]) and exists (select 1 from pg_catalog.pg_attribute a
       where a.attrelid = c.oid and a.attname = 'organization_id' and not a.attisdropped)) as placed
  from pg_catalog.pg_class c
 where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')`;

interface CachedPlacement {
  readonly record: PlacementRecord;
  /** Where the record routes (undefined: a placement this server cannot serve, `resolve` says why):
   *  routed once when cached, so a hit does no more than read it. */
  readonly db: TenantDatabase | undefined;
  readonly expiresAt: number;
}

const POOLED: PlacementRecord = { kind: 'pooled', databaseKey: null, schema: null, state: 'active' };
// `present`: for a schema placement, whether its schema exists (`$2`, the name derived from the id).
// `tables`: for a schema placement, the tables its schema holds (partitions included: a read may name one),
// from the catalog. Under the Citus setter, which does not qualify reads, the lookup reads no catalog table
// (LOOKUP_CITUS): one statement of `tenant_placements` alone, as the router plans it there.
const LOOKUP_CITUS = `select kind, database_key, state, schema_version,
    case when kind = 'schema' then to_regnamespace($2) is not null end as present, null::text[] as tables
  from tenant_placements where organization_id = $1`;
const LOOKUP = `select kind, database_key, state, schema_version,
    case when kind = 'schema' then to_regnamespace($2) is not null end as present,
    case when kind = 'schema' then array(
      select c.relname::text from pg_catalog.pg_class c
       where c.relnamespace = to_regnamespace($2) and c.relkind in ('r', 'p')
       order by 1) end as tables
  from tenant_placements where organization_id = $1`;

/**
 * Placement routing through an in-process cache (it sits on the hot path of every `withTenant`,
 * so it is never a network hop). A tenant without a record is pooled. The lookup itself is a
 * one-round-trip tenant-scoped read: `tenant_placements` is protected by RLS like every other table.
 * The cache is a Map in insertion order with an expiry per entry: a hit is one Map read and a clock read,
 * cheaper than an LRU's bookkeeping, and with a TTL this short, recency buys nothing.
 */
export function createPlacementRouter(opts: PlacementRouterOptions): PlacementRouter {
  const ttlMs = opts.ttlMs ?? 60_000;
  const schemaVersion = opts.schemaVersion ?? latestMigration();
  const max = opts.max ?? 100_000;
  const setters = opts.setters ?? POOLED_SETTERS;
  const lookupOptions = { epilogue: opts.control.setter.readEpilogue };
  const lookupSql = setters.kind === 'citus' ? LOOKUP_CITUS : LOOKUP;
  // The factory's key, built once per organization (the same string object each time: no concatenation
  // and no hashing per scope, where building it cost about as much as the rest of a cache hit).
  const keyOf = tenantCacheKeyMemo('placement', max);
  const cache = new Map<CacheKey, CachedPlacement>();
  const inflight = new Map<CacheKey, Promise<PlacementRecord>>();
  // One handle per schema-placed organization, kept for the process's life (they are few, and the same
  // organization always gets the same schema): a scope of theirs allocates nothing, as a pooled one.
  // Rebuilt when the tables its schema holds change (a migration synchronized it while this process ran).
  const schemaDatabases = new Map<string, { db: TenantDatabase; tables: string }>();
  // Organizations in an online move: the guarded path (moving-setter.ts), whatever their kind.
  const movingDatabases = new Map<string, TenantDatabase>();
  // `database` organizations in an online move: the guarded path on their tenant database.
  const movingPlacedDatabases = new Map<string, { base: TenantDatabase; db: TenantDatabase }>();
  // `database` placements' handles with their directory side, per tenant database (split-connection.ts).
  const splitDatabases = new Map<string, { base: TenantDatabase; split: TenantDatabase }>();
  let homes: StatementHomes | undefined;
  let homesLoading: Promise<StatementHomes> | undefined;

  async function loadHomes(): Promise<StatementHomes> {
    const res = await opts.control.pool.query<{ name: string; placed: boolean }>(HOMES_SQL, [
      Object.keys(DIRECTORY_TABLES),
    ]);
    homes = createStatementHomes({
      control: res.rows.filter((r) => !r.placed).map((r) => r.name),
      placed: res.rows.filter((r) => r.placed).map((r) => r.name),
    });
    return homes;
  }

  function withDirectory(base: TenantDatabase): TenantDatabase {
    if (opts.splitDirectory === false) return base;
    if (homes === undefined) {
      throw new TenancyError(
        'PLACEMENT_UNSUPPORTED',
        'database placement routed before its tables were read',
      );
    }
    let entry = splitDatabases.get(base.key);
    if (entry === undefined || entry.base !== base) {
      const directory = { control: opts.control, homes };
      const split: TenantDatabase = {
        key: base.key,
        // The tenant database's pool is looked up at each use (it may be closed while idle and reopened).
        get pool() {
          return base.pool;
        },
        setter: base.setter,
        db: base.db,
        directory,
      };
      entry = { base, split };
      splitDatabases.set(base.key, entry);
    }
    return entry.split;
  }

  /** The guarded handle of a moving `database` organization on its tenant database `base`, kept while it
   *  moves (rebuilt when the database's pool entry changes). */
  function movingPlaced(tenantId: string, base: TenantDatabase): TenantDatabase {
    const entry = movingPlacedDatabases.get(tenantId);
    if (entry !== undefined && entry.base === base) return entry.db;
    const guarded = createTenantDatabase(
      `moving:${tenantId}`,
      base.pool,
      setters.movingPlaced(tenantId),
      base,
    );
    if (opts.splitDirectory !== false && homes === undefined) {
      throw new TenancyError(
        'PLACEMENT_UNSUPPORTED',
        'database placement routed before its tables were read',
      );
    }
    const db: TenantDatabase =
      opts.splitDirectory === false || homes === undefined
        ? guarded
        : {
            key: base.key,
            get pool() {
              return base.pool;
            },
            setter: guarded.setter,
            db: guarded.db,
            directory: { control: opts.control, homes },
          };
    movingPlacedDatabases.set(tenantId, { base, db });
    return db;
  }

  async function lookup(tenantId: string): Promise<PlacementRecord> {
    const record = await lookupRecord(tenantId);
    if (record.kind === 'database' && opts.splitDirectory !== false && homes === undefined) {
      await (homesLoading ??= loadHomes().catch((err: unknown) => {
        homesLoading = undefined;
        throw err;
      }));
    }
    return record;
  }

  async function lookupRecord(tenantId: string): Promise<PlacementRecord> {
    const client = await opts.control.pool.connect();
    let failed: Error | undefined;
    try {
      const res = await pipelinedQuery(
        client,
        opts.control.setter.prelude(tenantId, 'read'),
        lookupSql,
        [tenantId, tenantSchemaName(tenantId)],
        lookupOptions,
      );
      const row = res.rows[0] as
        | {
            kind: PlacementKind;
            database_key: string | null;
            state: PlacementState;
            schema_version: string | null;
            present: boolean | null;
            tables: string[] | null;
          }
        | undefined;
      if (!row) return POOLED;
      const schema = row.kind === 'schema' ? tenantSchemaName(tenantId) : null;
      const behind = schema !== null && row.schema_version !== schemaVersion;
      const missing = schema !== null && row.present !== true;
      const tables = row.tables ?? undefined;
      return {
        kind: row.kind,
        databaseKey: row.database_key,
        schema,
        state: row.state,
        behind,
        missing,
        tables,
      };
    } catch (err) {
      // A Citus read that failed left its transaction failed: never pool the connection like that.
      if (inAbortedTransaction(client)) failed = err as Error;
      throw err;
    } finally {
      client.release(failed);
    }
  }

  function route(tenantId: string, record: PlacementRecord): TenantDatabase {
    if (record.state === 'moving' && record.kind === 'database' && record.databaseKey) {
      // A `database` organization in a move (out of its tenant database, or one that switched into it):
      // the guarded path there, with its directory side (migration 0078).
      const base = opts.databases?.get(record.databaseKey);
      if (base) return movingPlaced(tenantId, base);
    } else if (record.state === 'moving') {
      let db = movingDatabases.get(tenantId);
      if (db === undefined) {
        // A move is between the pooled schema and the organization's own, both on the control database.
        // (Under the Citus setter, `setters.moving` refuses: moves are not supported there.)
        // On the control database: the audit log's key store and sealer registered there serve it too.
        db = createTenantDatabase(
          `moving:${tenantId}`,
          opts.control.pool,
          setters.moving(tenantId),
          opts.control,
        );
        movingDatabases.set(tenantId, db);
      }
      return db;
    }
    movingDatabases.delete(tenantId);
    movingPlacedDatabases.delete(tenantId);
    // Placed elsewhere now: its schema handle (and the reads it remembered) goes.
    if (record.kind !== 'schema') schemaDatabases.delete(tenantId);
    if (record.kind === 'pooled') return opts.control;
    if (record.kind === 'schema' && record.schema) {
      // A table this server's migrations added but the schema lacks would resolve to public's (the search
      // path skips what a schema does not hold), and statements prepared then keep using it after the sync:
      // a schema behind is refused (503) until `npx saasready migrate` or a start synchronizes it.
      // Without its schema the search path would resolve every placed table to public's: its writes would
      // land there. A placement naming a schema that does not exist is refused (503), not routed.
      if (record.missing) {
        throw new TenancyError(
          'PLACEMENT_MISSING',
          `the organization's schema ${record.schema} does not exist (placed in schema, not routed)`,
        );
      }
      if (record.behind) {
        throw new TenancyError(
          'PLACEMENT_BEHIND',
          `the organization's schema ${record.schema} is not synchronized to migration ${schemaVersion}`,
        );
      }
      const tables = record.tables?.join(',') ?? '';
      let entry = schemaDatabases.get(tenantId);
      if (entry === undefined || entry.tables !== tables) {
        // The control database's pool: the search path (or the statement's own names), not the
        // connection, selects the schema. The same database: what is registered for the control
        // database (the audit log's key store and sealer, `databaseOf`) serves it too.
        const db = createTenantDatabase(
          `schema:${record.schema}`,
          opts.control.pool,
          setters.schema(tenantId, record.schema, record.tables),
          opts.control,
        );
        entry = { db, tables };
        schemaDatabases.set(tenantId, entry);
      }
      return entry.db;
    }
    if (record.kind === 'database' && record.databaseKey) {
      const db = opts.databases?.get(record.databaseKey);
      if (db) return withDirectory(db);
    }
    throw new TenancyError(
      'PLACEMENT_UNSUPPORTED',
      `placement ${record.kind}${record.databaseKey ? `:${record.databaseKey}` : ''} is not configured on this server (TENANT_DATABASES)`,
    );
  }

  function fresh(key: CacheKey): CachedPlacement | undefined {
    const entry = cache.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > Date.now()) return entry;
    cache.delete(key);
    return undefined;
  }

  function store(key: CacheKey, tenantId: string, record: PlacementRecord): void {
    cache.delete(key); // re-inserted last: the Map's order stays the order of expiry
    if (cache.size >= max) cache.delete(cache.keys().next().value as CacheKey);
    let db: TenantDatabase | undefined;
    try {
      db = route(tenantId, record);
    } catch {
      db = undefined; // `resolve` routes it again and throws why
    }
    cache.set(key, { record, db, expiresAt: Date.now() + ttlMs });
  }

  return {
    cached(tenantId) {
      return fresh(keyOf(tenantId))?.db;
    },
    async resolve(tenantId) {
      const key = keyOf(tenantId);
      const hit = fresh(key);
      if (hit) return hit.db ?? route(tenantId, hit.record);
      let pending = inflight.get(key);
      if (!pending) {
        // Only the lookup still registered when it completes is cached: one that `invalidate` dropped
        // meanwhile may have read the placement from before the move, and must not outlive it.
        const started: Promise<PlacementRecord> = lookup(tenantId).then(
          (record) => {
            if (inflight.get(key) === started) {
              inflight.delete(key);
              store(key, tenantId, record);
            }
            return record;
          },
          (err: unknown) => {
            if (inflight.get(key) === started) inflight.delete(key);
            throw err;
          },
        );
        inflight.set(key, started);
        pending = started;
      }
      return route(tenantId, await pending);
    },
    async database(key) {
      const db = opts.databases?.get(key);
      if (db === undefined) {
        throw new TenancyError(
          'PLACEMENT_UNSUPPORTED',
          `placement database:${key} is not configured on this server (TENANT_DATABASES)`,
        );
      }
      if (opts.splitDirectory !== false && homes === undefined) {
        await (homesLoading ??= loadHomes().catch((err: unknown) => {
          homesLoading = undefined;
          throw err;
        }));
      }
      return withDirectory(db);
    },
    invalidate(tenantId) {
      const key = keyOf(tenantId);
      cache.delete(key);
      inflight.delete(key);
    },
  };
}
