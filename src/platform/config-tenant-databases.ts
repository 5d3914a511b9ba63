/**
 * Dedicated tenant databases (`database` placements, issue 13), read by `loadConfig`: which databases
 * this server may route an organization to, and the cap on the connections it opens to all of them
 * together (docs/isolation-models.md "Database placements: pools").
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** One configured tenant database. URLs carry passwords: no message ever shows one. */
export interface TenantDatabaseEndpoint {
  /** The runtime role (what `withTenant` connects as). */
  url: string;
  /** The owner role: migrations of this database (`npx saasready migrate`). */
  ownerUrl?: string;
  /** The worker role, for jobs that work across the organizations of this database. */
  workerUrl?: string;
  /** The definer and worker role NAMES there, when they differ from the control database's (migrations
   *  grant to them; roles are per cluster). */
  definerRole?: string;
  workerRole?: string;
}

/** One configured tenant database with its key (what `npx saasready migrate` and the start check use). */
export interface TenantDatabaseConfig extends Readonly<TenantDatabaseEndpoint> {
  readonly key: string;
}

export interface TenantDatabasesConfig {
  /** TENANT_DATABASES or TENANT_DATABASES_FILE: key → endpoint (empty: no `database` placement routes). */
  databases: Record<string, TenantDatabaseEndpoint>;
  /** TENANT_DB_MAX_CONNECTIONS (default 20, 1-10000): open connections across ALL tenant databases. */
  maxConnections: number;
  /** TENANT_DB_POOL_SIZE (default 10, at most the cap): connections to any one tenant database. */
  poolSize: number;
  /** TENANT_DB_IDLE_TIMEOUT_MS (default 30000, 1000-3600000): an idle connection is closed after this,
   *  and a database left with none has its pool closed. */
  idleTimeoutMs: number;
  /** TENANT_DB_ACQUIRE_TIMEOUT_MS (default 5000, 100-600000): how long a scope waits for a connection
   *  under the cap before it fails (TENANT_DATABASE_BUSY). */
  acquireTimeoutMs: number;
  /** REGIONS (data residency): region name → the key of the tenant database its organizations live in
   *  (empty: no region). An organization created in a region has every placed row there. */
  regions?: Record<string, string>;
  /** DEFAULT_REGION: the region of organizations created without one (unset: the control database). */
  defaultRegion?: string;
}

type IntReader = (name: string, fallback: number, min: number, max: number) => number;
type Fail = (variable: string, message: string) => Error;

/** A tenant database key: how `tenant_placements.database_key` names it. */
export const TENANT_DATABASE_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const FIELDS = ['url', 'ownerUrl', 'workerUrl', 'definerRole', 'workerRole'] as const;
const ROLE = /^[a-z_][a-z0-9_]{0,62}$/;

function read(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/** The JSON text and the variable it came from (the inline variable or the file it names). */
function source(env: NodeJS.ProcessEnv, fail: Fail): { name: string; text: string } | undefined {
  const inline = read(env, 'TENANT_DATABASES');
  const file = read(env, 'TENANT_DATABASES_FILE');
  if (inline !== undefined && file !== undefined) {
    throw fail('TENANT_DATABASES', 'TENANT_DATABASES and TENANT_DATABASES_FILE are both set: set one');
  }
  if (inline !== undefined) return { name: 'TENANT_DATABASES', text: inline };
  if (file === undefined) return undefined;
  const resolved = path.resolve(file);
  try {
    return { name: 'TENANT_DATABASES_FILE', text: readFileSync(resolved, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw fail('TENANT_DATABASES_FILE', `TENANT_DATABASES_FILE cannot be read (${code}: ${resolved})`);
  }
}

/** A PostgreSQL URL with a user name; the message names the key and field, never the value. */
function postgresUrl(value: unknown, where: string, bad: (why: string) => Error): string {
  if (typeof value !== 'string' || value.trim() === '') throw bad(`${where} is not a string`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw bad(`${where} does not parse as a URL`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw bad(`${where} must be a postgres:// or postgresql:// URL`);
  }
  if (!url.username) throw bad(`${where} has no user name`);
  if (url.pathname.length <= 1) throw bad(`${where} names no database`);
  return value;
}

function databases(env: NodeJS.ProcessEnv, fail: Fail): Record<string, TenantDatabaseEndpoint> {
  const src = source(env, fail);
  if (src === undefined) return {};
  const bad = (why: string) =>
    fail(
      src.name,
      `${src.name} must be a JSON object of database keys to {"url", "ownerUrl"?, "workerUrl"?}: ${why}`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(src.text);
  } catch {
    throw bad('it is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw bad('not an object');
  const out: Record<string, TenantDatabaseEndpoint> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!TENANT_DATABASE_KEY.test(key)) {
      throw bad(`${JSON.stringify(key.slice(0, 64))} is not a key (a-z first, then a-z 0-9 _ -, at most 63)`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw bad(`the value of "${key}" is not an object`);
    }
    const fields = value as Record<string, unknown>;
    const unknown = Object.keys(fields).find((f) => !(FIELDS as readonly string[]).includes(f));
    if (unknown !== undefined)
      throw bad(`"${key}" has an unknown field ${JSON.stringify(unknown.slice(0, 64))}`);
    const endpoint: TenantDatabaseEndpoint = { url: postgresUrl(fields.url, `"${key}".url`, bad) };
    if (fields.ownerUrl !== undefined)
      endpoint.ownerUrl = postgresUrl(fields.ownerUrl, `"${key}".ownerUrl`, bad);
    if (fields.workerUrl !== undefined) {
      endpoint.workerUrl = postgresUrl(fields.workerUrl, `"${key}".workerUrl`, bad);
    }
    for (const field of ['definerRole', 'workerRole'] as const) {
      const role = fields[field];
      if (role === undefined) continue;
      if (typeof role !== 'string' || !ROLE.test(role))
        throw bad(`"${key}".${field} is not a role name (a-z or _ first, then a-z 0-9 _)`);
      endpoint[field] = role;
    }
    out[key] = endpoint;
  }
  return out;
}

/** The region whose database is `key` (the first by name when several share it), if any. */
export function regionOfDatabase(regions: Record<string, string>, key: string): string | undefined {
  return Object.keys(regions)
    .filter((region) => regions[region] === key)
    .sort()[0];
}

/** REGIONS: a JSON object of region names to keys of TENANT_DATABASES (one database per region). */
function regions(
  env: NodeJS.ProcessEnv,
  dbs: Record<string, TenantDatabaseEndpoint>,
  fail: Fail,
): Record<string, string> {
  const text = read(env, 'REGIONS');
  if (text === undefined) return {};
  const bad = (why: string) =>
    fail('REGIONS', `REGIONS must be a JSON object of region names to TENANT_DATABASES keys: ${why}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw bad('it is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw bad('not an object');
  const out: Record<string, string> = {};
  for (const [region, key] of Object.entries(parsed)) {
    if (!TENANT_DATABASE_KEY.test(region)) {
      throw bad(`${JSON.stringify(region.slice(0, 64))} is not a region name (a-z first, then a-z 0-9 _ -)`);
    }
    if (typeof key !== 'string' || !Object.hasOwn(dbs, key)) {
      throw bad(`the database of "${region}" is not a key of TENANT_DATABASES`);
    }
    out[region] = key;
  }
  return out;
}

/**
 * Reads TENANT_DATABASES (inline JSON) or TENANT_DATABASES_FILE (a JSON file; not both) and the
 * TENANT_DB_* limits. Messages name the variable, key and field, never a URL (they hold passwords).
 */
export function tenantDatabasesConfig(
  env: NodeJS.ProcessEnv,
  int: IntReader,
  fail: Fail,
): TenantDatabasesConfig {
  const dbs = databases(env, fail);
  const maxConnections = int('TENANT_DB_MAX_CONNECTIONS', 20, 1, 10_000);
  const regionMap = regions(env, dbs, fail);
  const defaultRegion = read(env, 'DEFAULT_REGION');
  if (defaultRegion !== undefined && !Object.hasOwn(regionMap, defaultRegion)) {
    throw fail('DEFAULT_REGION', 'DEFAULT_REGION must name a region of REGIONS');
  }
  return {
    databases: dbs,
    regions: regionMap,
    ...(defaultRegion !== undefined ? { defaultRegion } : {}),
    maxConnections,
    // A pool larger than the cap could never fill: bounded by it, and its default shrinks with it.
    poolSize: int('TENANT_DB_POOL_SIZE', Math.min(10, maxConnections), 1, maxConnections),
    idleTimeoutMs: int('TENANT_DB_IDLE_TIMEOUT_MS', 30_000, 1_000, 3_600_000),
    acquireTimeoutMs: int('TENANT_DB_ACQUIRE_TIMEOUT_MS', 5_000, 100, 600_000),
  };
}

/** What `npx saasready migrate` migrates besides the control database: every key with an owner URL. */
export function tenantDatabaseMigrationTargets(
  config: TenantDatabasesConfig,
): { key: string; ownerUrl: string }[] {
  return Object.entries(config.databases).flatMap(([key, e]) =>
    e.ownerUrl === undefined ? [] : [{ key, ownerUrl: e.ownerUrl }],
  );
}

/** Every configured tenant database with its key, in key order. */
export function tenantDatabaseList(config: TenantDatabasesConfig): TenantDatabaseConfig[] {
  return Object.keys(config.databases)
    .sort()
    .map((key) => ({ key, ...config.databases[key]! }));
}
