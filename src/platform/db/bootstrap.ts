import pg from 'pg';

/** The four roles of a SaaSReady database. */
export interface RoleNames {
  /** Owns every object and runs migrations. */
  readonly owner: string;
  /** The server's role: not superuser, no BYPASSRLS, owns nothing. */
  readonly runtime: string;
  /** NOLOGIN, BYPASSRLS: owns the few SECURITY DEFINER functions that are the named privileged paths. */
  readonly definer: string;
  /**
   * The job worker's role (graphile-worker): not superuser, no BYPASSRLS, owns nothing; it alone may use
   * the `graphile_worker` schema, and it has nothing in `public` (job handlers reach tenant data through
   * the runtime role's `withTenant`).
   */
  readonly worker: string;
}

export interface BootstrapOptions {
  /** A superuser connection to the cluster (any database). */
  readonly superuserUrl: string;
  readonly database: string;
  readonly roles: RoleNames;
  readonly passwords: { readonly owner: string; readonly runtime: string; readonly worker: string };
}

export interface DatabaseUrls {
  /** Runtime role. */
  readonly url: string;
  /** Owner role, for migrations. */
  readonly migrationUrl: string;
  /** Worker role, for the job worker. */
  readonly workerUrl: string;
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

function ident(name: string): string {
  if (!IDENT.test(name)) throw new Error(`invalid SQL identifier: ${name}`);
  return `"${name}"`;
}

/** Replaces user, password and database of a PostgreSQL URL. */
export function withCredentials(url: string, user: string, password: string, database: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  u.pathname = `/${database}`;
  return u.toString();
}

/**
 * Creates (or brings up to date) the roles and the database, idempotently. Needs a superuser once:
 * BYPASSRLS for the definer role can only be granted by one. Used by embedded mode, tests and bench.
 */
export async function bootstrapDatabase(opts: BootstrapOptions): Promise<DatabaseUrls> {
  const { roles, passwords } = opts;
  const admin = new pg.Client({ connectionString: opts.superuserUrl });
  await admin.connect();
  try {
    const lit = (s: string) => admin.escapeLiteral(s);
    const exists = async (role: string) =>
      (await admin.query('select 1 from pg_roles where rolname = $1', [role])).rowCount === 1;
    const base = 'NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS';
    for (const [role, password] of [
      [roles.owner, passwords.owner],
      [roles.runtime, passwords.runtime],
      [roles.worker, passwords.worker],
    ] as const) {
      const verb = (await exists(role)) ? 'ALTER' : 'CREATE';
      await admin.query(`${verb} ROLE ${ident(role)} LOGIN ${base} PASSWORD ${lit(password)}`);
    }
    const definerVerb = (await exists(roles.definer)) ? 'ALTER' : 'CREATE';
    await admin.query(
      `${definerVerb} ROLE ${ident(roles.definer)} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS`,
    );
    // The owner hands function ownership to the definer role, which requires membership.
    await admin.query(`GRANT ${ident(roles.definer)} TO ${ident(roles.owner)}`);
    const db = await admin.query('select 1 from pg_database where datname = $1', [opts.database]);
    if (db.rowCount === 0) {
      await admin.query(`CREATE DATABASE ${ident(opts.database)} OWNER ${ident(roles.owner)}`);
    }
  } finally {
    await admin.end();
  }

  const inDb = new pg.Client({ connectionString: withDatabase(opts.superuserUrl, opts.database) });
  await inDb.connect();
  try {
    await inDb.query(`REVOKE ALL ON DATABASE ${ident(opts.database)} FROM PUBLIC`);
    await inDb.query(
      `GRANT CONNECT ON DATABASE ${ident(opts.database)} TO ${ident(roles.runtime)}, ${ident(roles.worker)}`,
    );
    // USAGE too: only the roles named below reach `public` (the worker role has nothing there).
    await inDb.query(`REVOKE ALL ON SCHEMA public FROM PUBLIC`);
    await inDb.query(`GRANT USAGE ON SCHEMA public TO ${ident(roles.runtime)}, ${ident(roles.definer)}`);
    // ALTER FUNCTION ... OWNER TO definer requires the new owner to have CREATE on the schema.
    await inDb.query(`GRANT CREATE ON SCHEMA public TO ${ident(roles.definer)}`);
    // An UPDATE of the settings view is a session-level SET that outlives the transaction (e.g.
    // `default_transaction_read_only`, or the tenant itself): nobody but a superuser needs it.
    await inDb.query(`REVOKE UPDATE ON pg_catalog.pg_settings FROM PUBLIC`);
  } finally {
    await inDb.end();
  }

  return {
    url: withCredentials(opts.superuserUrl, roles.runtime, passwords.runtime, opts.database),
    migrationUrl: withCredentials(opts.superuserUrl, roles.owner, passwords.owner, opts.database),
    workerUrl: withCredentials(opts.superuserUrl, roles.worker, passwords.worker, opts.database),
  };
}

/** Drops a database and its roles (tests and benchmarks clean up with this). */
export async function dropDatabase(superuserUrl: string, database: string, roles: RoleNames): Promise<void> {
  const admin = new pg.Client({ connectionString: superuserUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${ident(database)} WITH (FORCE)`);
    for (const role of [roles.runtime, roles.worker, roles.owner, roles.definer]) {
      await admin.query(`DROP ROLE IF EXISTS ${ident(role)}`);
    }
  } finally {
    await admin.end();
  }
}

/** Same URL, other database. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
