import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../platform/config.js';
import { tenantDatabaseList } from '../platform/config-tenant-databases.js';
import { createLogger } from '../platform/logger.js';
import { createPlatformDb } from '../platform/db/platform-db.js';
import { connectForCli, connectOwnerAsIs } from './connect.js';
import { migrateEverything, statusReport } from './migrate.js';
import { migrationStatus } from '../platform/db/migration-status.js';
import { syncPlacementSchema } from '../platform/tenancy/placement-schema.js';
import { loadSecrets } from '../platform/secrets.js';
import { report, verifyExportFile, verifyOrganizationBySlug } from './audit-verify.js';
import { createPlatformAdmin } from './admin-create.js';
import { auditSealLegacy } from './audit-seal-legacy.js';
import { tenantMove } from './tenant-move.js';
import { citusDistribute } from './citus-distribute.js';
import { createPasswordHasher } from '../modules/auth/passwords.js';
import { setStatementCache } from '../platform/tenancy/pipelined-query.js';

const USAGE = `usage:
  saasready migrate
  saasready migrate status
  saasready admin create --email <email>
  saasready audit verify --org <slug>
  saasready audit verify --file <export.jsonl> [--checkpoints <page.json> ... --public-key <key.json|key.pem>]
  saasready audit seal-legacy
  saasready tenant move <org id or slug> --to pooled|schema|database:<key>|region:<name>
  saasready tenant move <org id or slug> --abort | --status
  saasready citus distribute [--dry-run]`;

function fail(message: string): never {
  process.stderr.write(`saasready: ${message}\n`);
  process.exit(1);
}

/** `npx saasready ...` */
async function main(argv: string[]): Promise<void> {
  const [group, command, ...rest] = argv;
  if (group === 'migrate' && command === undefined) return migrate();
  if (group === 'migrate' && command === 'status' && rest.length === 0) return migrateStatus();
  if (group === 'audit' && command === 'verify') return auditVerify(rest);
  if (group === 'audit' && command === 'seal-legacy' && rest.length === 0) return sealLegacy();
  if (group === 'tenant' && command === 'move') return moveTenant(rest);
  if (group === 'citus' && command === 'distribute') return distributeOnCitus(rest);
  if (group !== 'admin' || command !== 'create') fail(USAGE);
  const { values } = parseArgs({ args: rest, options: { email: { type: 'string' } }, strict: true });
  if (!values.email) fail(USAGE);
  const config = configOrFail();
  const log = createLogger({ level: 'warn' });
  // The runtime role cannot write users.is_platform_admin: the owner role makes administrators.
  const { pool, close } = await connectForCli(config, log, 'owner');
  const db = createPlatformDb(pool);
  try {
    const hasher = createPasswordHasher();
    const result = await createPlatformAdmin(
      db,
      values.email,
      () => randomBytes(18).toString('base64url'),
      (p) => hasher.hash(p),
    );
    if (result.created) {
      process.stdout.write(
        `created platform administrator ${result.email}\ninitial password (shown once): ${result.password}\n`,
      );
    } else {
      process.stdout.write(`${result.email} is now a platform administrator\n`);
    }
  } finally {
    await db.destroy();
    await close();
  }
}

/** `saasready tenant move …`: exit 0 when the move ended (or the status was printed), 1 on error. */
async function moveTenant(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { to: { type: 'string' }, abort: { type: 'boolean' }, status: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) fail(USAGE);
  const config = configOrFail();
  const log = createLogger({ level: 'warn' });
  const code = await tenantMove(
    config,
    log,
    { org: positionals[0]!, to: values.to, abort: values.abort, status: values.status },
    (line) => process.stdout.write(`${line}\n`),
  ).catch((err: unknown) => fail((err as Error).message));
  process.exitCode = code;
}

/** `saasready citus distribute [--dry-run]`: exit 0 when done (or the plan printed), 1 refused or failed. */
async function distributeOnCitus(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { 'dry-run': { type: 'boolean' } }, strict: true });
  const config = configOrFail();
  const log = createLogger({ level: 'warn' });
  const superuserUrl = process.env.CITUS_SUPERUSER_URL;
  const code = await citusDistribute(
    config,
    log,
    { dryRun: values['dry-run'] ?? false, ...(superuserUrl ? { superuserUrl } : {}) },
    (text) => process.stdout.write(text),
  ).catch((err: unknown) => fail((err as Error).message));
  process.exitCode = code;
}

/** `saasready audit verify …`: exit 0 when the chain is intact, 2 when broken, 1 on error. */
async function auditVerify(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      org: { type: 'string' },
      file: { type: 'string' },
      checkpoints: { type: 'string', multiple: true },
      'public-key': { type: 'string' },
    },
    strict: true,
  });
  if (values.file) {
    const result = await verifyExportFile({
      file: values.file,
      ...(values.checkpoints ? { checkpoints: values.checkpoints } : {}),
      ...(values['public-key'] ? { publicKey: values['public-key'] } : {}),
    });
    const { text, code } = report(values.file, result);
    process.stdout.write(text);
    process.exit(code);
  }
  if (!values.org) fail(USAGE);
  const config = configOrFail();
  const secrets = await loadSecrets(config);
  const log = createLogger({ level: 'warn' });
  const { pool, close } = await connectForCli(config, log);
  let result;
  try {
    result = await verifyOrganizationBySlug(
      pool,
      secrets.auditKey,
      values.org,
      config.auditRetiredKeys,
      config.tenantDatabases,
    );
  } finally {
    await close();
  }
  if (!result) fail(`no organization with slug "${values.org}"`);
  const { text, code } = report(values.org, result);
  process.stdout.write(text);
  process.exit(code);
}

function configOrFail() {
  try {
    const config = loadConfig();
    // A command that queries through the runtime role may go through a transaction-pooling PgBouncer.
    setStatementCache(config.dbStatementCache);
    return config;
  } catch (err) {
    if (err instanceof ConfigError) fail(`invalid configuration: ${err.message}`);
    throw err;
  }
}

/** `saasready migrate`: exit 0 when everything is migrated, 1 when anything failed (it says what). */
async function migrate(): Promise<void> {
  const config = configOrFail();
  const log = createLogger({ level: 'warn' });
  // The placements are synchronized below, each printed, not silently while the database is prepared.
  const conn = await connectForCli(config, log, 'owner', { syncPlacements: false });
  let code;
  try {
    code = await migrateEverything({
      ownerUrl: conn.url,
      owner: conn.pool,
      roles: conn.roles,
      alreadyApplied: conn.applied,
      databases: tenantDatabaseList(config.tenantDatabases),
      sync: syncPlacementSchema,
      write: (text) => process.stdout.write(text),
    });
  } finally {
    await conn.close();
  }
  process.exit(code);
}

/** `saasready migrate status`: exit 0 when the control database and every placement are current, 2 when not. */
async function migrateStatus(): Promise<void> {
  const config = configOrFail();
  const log = createLogger({ level: 'warn' });
  const conn = await connectOwnerAsIs(config, log);
  let report;
  try {
    report = statusReport(await migrationStatus(conn.pool, tenantDatabaseList(config.tenantDatabases)));
  } finally {
    await conn.close();
  }
  process.stdout.write(report.text);
  process.exit(report.code);
}

/** `saasready audit seal-legacy`: exit 0 when done, 2 when a chain that does not verify was refused. */
async function sealLegacy(): Promise<void> {
  const config = configOrFail();
  const secrets = await loadSecrets(config);
  const log = createLogger({ level: 'warn' });
  const code = await auditSealLegacy(config, secrets, log, (line) => process.stdout.write(line));
  process.exit(code);
}

main(process.argv.slice(2)).catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
