import type pg from 'pg';
import type { TenantDatabaseConfig } from '../platform/config-tenant-databases.js';
import type { RoleNames } from '../platform/db/bootstrap.js';
import { latestMigration, migrateToLatest } from '../platform/db/migrate.js';
import type { MigrationStatus } from '../platform/db/migration-status.js';
import {
  syncSchemaPlacements,
  type SchemaSyncOutcome,
  type SyncPlacementSchema,
} from '../platform/db/placement-migrations.js';
import {
  migrateTenantDatabases,
  type DatabaseMigrationOutcome,
} from '../platform/db/tenant-database-migrations.js';

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** One line per schema placement synchronized (or failed). */
export function schemaOutcomeLine(o: SchemaSyncOutcome): string {
  const which = `placement ${o.placement.schemaName} (org ${o.placement.slug})`;
  if (o.error !== undefined) return `${which}: FAILED: ${o.error} (stays at ${o.version ?? 'no version'})\n`;
  return `${which}: ${plural(o.changes ?? 0, 'change')}, now at ${o.version}\n`;
}

/** One line per tenant database migrated (or failed). */
export function databaseOutcomeLine(o: DatabaseMigrationOutcome): string {
  const which = `database ${o.key}`;
  if (o.error !== undefined)
    return `${which}: FAILED: ${o.error} (stays at ${o.version ?? 'no migration'})\n`;
  return `${which}: ${o.applied.length ? `applied ${plural(o.applied.length, 'migration')}` : 'nothing to apply'}, now at ${o.version}\n`;
}

/**
 * `npx saasready migrate`: the control database's pending migrations, then every schema placement that is
 * behind (each synchronized and recorded on its own), then each configured tenant database. A failure is
 * reported and the rest still runs; resolves to the exit code (0, or 1 when anything failed).
 */
export async function migrateEverything(opts: {
  ownerUrl: string;
  owner: pg.Pool;
  roles: RoleNames;
  /** Migrations already applied while connecting (the database is prepared before a command runs). */
  alreadyApplied?: readonly string[];
  databases: readonly TenantDatabaseConfig[];
  sync: SyncPlacementSchema;
  write: (text: string) => void;
}): Promise<number> {
  const { write } = opts;
  const latest = latestMigration();
  const applied = [...(opts.alreadyApplied ?? []), ...(await migrateToLatest(opts.ownerUrl, opts.roles))];
  write(
    `control database: ${applied.length ? `applied ${applied.join(', ')}` : 'nothing to apply'}, now at ${latest}\n`,
  );
  const schemas = await syncSchemaPlacements({
    owner: opts.owner,
    roles: opts.roles,
    sync: opts.sync,
    onOutcome: (o) => write(schemaOutcomeLine(o)),
  });
  const dbs = await migrateTenantDatabases({
    databases: opts.databases,
    controlRoles: opts.roles,
    onOutcome: (o) => write(databaseOutcomeLine(o)),
  });
  const synced = schemas.outcomes.length - schemas.failed;
  const migrated = dbs.outcomes.length - dbs.failed;
  write(
    `schema placements: ${synced} synchronized, ${schemas.failed} failed, ${schemas.alreadyCurrent} already current; ` +
      `tenant databases: ${migrated} migrated, ${dbs.failed} failed\n`,
  );
  if (schemas.failed + dbs.failed > 0) {
    write('some placements are behind: fix the cause above and run `npx saasready migrate` again\n');
    return 1;
  }
  return 0;
}

/** `npx saasready migrate status`: the text, and exit code 0 when everything is current, 2 when not. */
export function statusReport(s: MigrationStatus): { text: string; code: number } {
  const state = (current: boolean) => (current ? 'current' : 'behind');
  let text = `code: ${s.latest}\ncontrol database: ${s.control.version ?? 'no migration'} ${state(s.control.current)}\n`;
  for (const p of s.placements) {
    const which =
      p.kind === 'schema' ? `placement ${p.name} (${p.detail})` : `database ${p.name} (${p.detail})`;
    text += `${which}: ${p.version ?? 'no version'} ${state(p.current)}${p.note ? ` (${p.note})` : ''}\n`;
  }
  if (s.placementsUnknown) text += `placements: unknown (${s.placementsUnknown})\n`;
  const behind = s.placements.filter((p) => !p.current).length;
  text += `${plural(s.placements.length, 'placement')}, ${behind} behind\n`;
  const current = s.control.current && behind === 0 && !s.placementsUnknown;
  if (!current) text += 'run `npx saasready migrate` to bring them up to date\n';
  return { text, code: current ? 0 : 2 };
}
