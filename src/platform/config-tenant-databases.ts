/**
 * TENANT_DATABASES: the dedicated databases of `database` placements (docs/isolation-models.md), as JSON
 * `{ "<key>": { "url": "postgres://runtime@…", "ownerUrl": "postgres://owner@…" } }`. The key is what
 * `tenant_placements.database_key` names; `url` is the runtime role's, `ownerUrl` the owner role's, which
 * `npx saasready migrate` migrates with; `definerRole` and `workerRole`, optional, the names of those roles
 * there when they differ from the control database's. Read by `loadConfig`.
 */
export interface TenantDatabaseConfig {
  readonly key: string;
  readonly url: string;
  readonly ownerUrl: string;
  /** The definer and worker roles there (default: the control database's; roles are per cluster). */
  readonly definerRole?: string;
  readonly workerRole?: string;
}

type Fail = (variable: string, message: string) => Error;

const VAR = 'TENANT_DATABASES';
const KEY = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const ROLE = /^[a-z_][a-z0-9_]{0,62}$/;
const FIELDS = ['url', 'ownerUrl', 'definerRole', 'workerRole'];

function role(key: string, field: string, value: unknown, fail: Fail): { [k: string]: string } {
  if (value === undefined) return {};
  if (typeof value !== 'string' || !ROLE.test(value))
    throw fail(VAR, `${VAR}.${key}.${field} must be a role name (lowercase letters, digits, _)`);
  return { [field]: value };
}

function postgresUrl(key: string, field: string, value: unknown, fail: Fail): string {
  const where = `${VAR}.${key}.${field}`;
  if (typeof value !== 'string' || value.trim() === '') throw fail(VAR, `${where} must be a URL string`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // Never the value itself: it holds a password.
    throw fail(VAR, `${where} does not parse as a URL`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
    throw fail(VAR, `${where} must be a postgres:// or postgresql:// URL`);
  if (!url.username) throw fail(VAR, `${where} must name a user`);
  return value;
}

/** The configured tenant databases, by key order; none when the variable is unset or empty. */
export function tenantDatabasesConfig(env: NodeJS.ProcessEnv, fail: Fail): TenantDatabaseConfig[] {
  const raw = env[VAR]?.trim();
  if (!raw) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw fail(VAR, `${VAR} must be a JSON object (it does not parse)`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw fail(VAR, `${VAR} must be a JSON object of { "<key>": { "url": …, "ownerUrl": … } }`);
  return Object.entries(parsed as Record<string, unknown>)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, entry]) => {
      if (!KEY.test(key))
        throw fail(VAR, `${VAR} key "${key.slice(0, 64)}" must be lowercase letters, digits, - or _`);
      if (typeof entry !== 'object' || entry === null)
        throw fail(VAR, `${VAR}.${key} must be an object with url and ownerUrl`);
      const e = entry as Record<string, unknown>;
      const unknown = Object.keys(e).filter((k) => !FIELDS.includes(k));
      if (unknown.length > 0) throw fail(VAR, `${VAR}.${key} has unknown fields: ${unknown.join(', ')}`);
      return {
        key,
        url: postgresUrl(key, 'url', e.url, fail),
        ownerUrl: postgresUrl(key, 'ownerUrl', e.ownerUrl, fail),
        ...role(key, 'definerRole', e.definerRole, fail),
        ...role(key, 'workerRole', e.workerRole, fail),
      };
    });
}
