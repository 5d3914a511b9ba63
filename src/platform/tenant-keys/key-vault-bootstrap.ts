import pg from 'pg';
import { withCredentials, withDatabase } from '../db/bootstrap.js';

/** The key vault of one application database: its own database and its own login role. */
export interface KeyVaultNames {
  readonly database: string;
  readonly role: string;
}

/** `<app database>_keyvault` for both: the vault sits beside the database it serves. */
export function keyVaultNamesFor(appDatabase: string): KeyVaultNames {
  const name = `${appDatabase}_keyvault`;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid key vault name: ${name}`);
  return { database: name, role: name };
}

/**
 * Creates (or brings up to date) the key vault's role and database, idempotently, with a superuser
 * connection (embedded mode, tests). The role is a plain login role (no superuser, no BYPASSRLS) owning
 * only its database; PUBLIC (so the application's runtime, worker and owner roles) cannot connect to it,
 * and dumps of the application database never contain it. Returns the vault role's URL.
 */
export async function bootstrapKeyVault(opts: {
  superuserUrl: string;
  names: KeyVaultNames;
  password: string;
}): Promise<string> {
  const { names } = opts;
  const admin = new pg.Client({ connectionString: opts.superuserUrl });
  await admin.connect();
  try {
    const role = admin.escapeIdentifier(names.role);
    const db = admin.escapeIdentifier(names.database);
    const exists =
      (await admin.query('select 1 from pg_roles where rolname = $1', [names.role])).rowCount === 1;
    await admin.query(
      `${exists ? 'ALTER' : 'CREATE'} ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD ${admin.escapeLiteral(opts.password)}`,
    );
    const dbExists =
      (await admin.query('select 1 from pg_database where datname = $1', [names.database])).rowCount === 1;
    if (!dbExists) await admin.query(`CREATE DATABASE ${db} OWNER ${role}`);
    await admin.query(`REVOKE ALL ON DATABASE ${db} FROM PUBLIC`);
    await admin.query(`GRANT CONNECT ON DATABASE ${db} TO ${role}`);
  } finally {
    await admin.end();
  }
  const inDb = new pg.Client({ connectionString: withDatabase(opts.superuserUrl, names.database) });
  await inDb.connect();
  try {
    // The vault role (the database owner) alone uses `public` there.
    await inDb.query(`REVOKE ALL ON SCHEMA public FROM PUBLIC`);
    await inDb.query(`GRANT USAGE, CREATE ON SCHEMA public TO ${inDb.escapeIdentifier(names.role)}`);
  } finally {
    await inDb.end();
  }
  return withCredentials(opts.superuserUrl, names.role, opts.password, names.database);
}

/** Drops a key vault made by {@link bootstrapKeyVault} (tests clean up with this). */
export async function dropKeyVault(superuserUrl: string, names: KeyVaultNames): Promise<void> {
  const admin = new pg.Client({ connectionString: superuserUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(names.database)} WITH (FORCE)`);
    await admin.query(`DROP ROLE IF EXISTS ${admin.escapeIdentifier(names.role)}`);
  } finally {
    await admin.end();
  }
}
