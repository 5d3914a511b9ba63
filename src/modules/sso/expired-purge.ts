import { sql } from 'kysely';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { PlatformDb } from '../../platform/db/platform-db.js';

export const EXPIRED_PURGE_TASK = 'sign_in_expired_purge';
/** Hourly at minute 23: the expired rows of pending sign-ins go (docs/sso.md "Expired sign-in rows"). */
export const EXPIRED_PURGE_CRONTAB = `23 * * * * ${EXPIRED_PURGE_TASK}\n`;

/** Rows deleted per statement; a run stops after `maxBatches` full batches of a table (the next run goes on). */
const BATCH = 1000;
const MAX_BATCHES = 100;

/**
 * The global tables of pending sign-ins, each with the key its batches delete by. Runtime role (the
 * platform handle): the same DELETE privilege their modules already use for the lazy purge.
 */
const GLOBAL_TABLES = {
  sso_flows: ['state_hash'],
  social_sign_in_flows: ['state_hash'],
  passkey_challenges: ['purpose', 'binding_hash'],
} as const;

export type ExpiredPurgeCounts = Record<keyof typeof GLOBAL_TABLES | 'saml', number>;

/**
 * The scheduled purge of expired pending sign-in rows, which their modules otherwise only remove lazily
 * (on the next sign-in of the same kind, or of the same organization for SAML):
 * - SAML pending requests and assertion replay entries (tenant tables, placed): the worker role's
 *   `worker_api.app_priv_sso_purge_expired`, across every organization and placement schema;
 * - SSO flows, social sign-in flows and passkey challenges (global tables): plain deletes.
 * In bounded batches; a row is deleted only once its `expires_at` has passed, so a live sign-in is never
 * cut short.
 */
export async function purgeExpiredSignInRows(deps: {
  workerPool: pg.Pool;
  db: PlatformDb;
  batchSize?: number;
  maxBatches?: number;
  log?: Logger;
}): Promise<ExpiredPurgeCounts> {
  const batch = deps.batchSize ?? BATCH;
  const maxBatches = deps.maxBatches ?? MAX_BATCHES;
  const counts: ExpiredPurgeCounts = {
    saml: 0,
    sso_flows: 0,
    social_sign_in_flows: 0,
    passkey_challenges: 0,
  };
  for (let i = 0; i < maxBatches; i++) {
    const res = await deps.workerPool.query<{ n: number }>(
      'select worker_api.app_priv_sso_purge_expired($1) as n',
      [batch],
    );
    const n = res.rows[0]?.n ?? 0;
    counts.saml += n;
    if (n < batch) break;
  }
  for (const [table, columns] of Object.entries(GLOBAL_TABLES) as [
    keyof typeof GLOBAL_TABLES,
    readonly string[],
  ][]) {
    const key = sql.join(columns.map((c) => sql.ref(c)));
    for (let i = 0; i < maxBatches; i++) {
      const res = await sql`delete from ${sql.table(table)} where (${key}) in (select ${key} from
          ${sql.table(table)} where expires_at < now() limit ${batch})`.execute(deps.db);
      const n = Number(res.numAffectedRows ?? 0);
      counts[table] += n;
      if (n < batch) break;
    }
  }
  deps.log?.info({ purged: counts }, 'expired sign-in rows purged');
  return counts;
}
