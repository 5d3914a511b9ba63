import type pg from 'pg';
import type { Logger } from 'pino';
import { createPool } from '../../platform/db/pool.js';

export const FLAG_OVERRIDES_SWEEP_TASK = 'flags_overrides_sweep';
/** Hourly at minute 41: the tenant databases' overrides of deleted flags go. */
export const FLAG_OVERRIDES_SWEEP_CRONTAB = `41 * * * * ${FLAG_OVERRIDES_SWEEP_TASK}\n`;

/** Rows deleted per call; a database stops after `maxBatches` full batches (the next run goes on). */
const BATCH = 1000;
const MAX_BATCHES = 50;
/**
 * Rows written less than this before the flags were read are kept: one may be of a flag created after the
 * read (not in the list), and its `updated_at` is the tenant database's clock (or the writing server's).
 */
export const SWEEP_MARGIN_MS = 60 * 60 * 1000;

/** What a sweep did, per tenant database: rows deleted, or why it failed. */
export type SweepOutcome = { key: string; deleted: number } | { key: string; error: string };

/**
 * Deletes the override rows a tenant database keeps of flags deleted since (docs/feature-flags.md,
 * "Overrides of a deleted flag"). The control database's overrides go with their flag (its foreign key
 * cascades); a tenant database has no key to the control database's flags, and its leftovers are never
 * applied (each override names its flag: flag-identity.ts), so this only reclaims their rows, whenever each
 * database is reachable: one that is not is logged and swept by a later run. The control database's flags
 * (key, id) are read first, then each database, as its worker role (`worker_api.app_flag_overrides_sweep`,
 * migration 0073), records in the rows written before 0073 (no flag id) their key's flag, and deletes what
 * is of none of them, in batches; a row without a flag id whose key has a flag is never deleted. A row
 * written within `SWEEP_MARGIN_MS` before the read is left for the next run.
 */
export async function sweepFlagOverrides(deps: {
  /** A pool of the control database (any role that may read `feature_flags`). */
  control: pg.Pool;
  /** The tenant databases with a worker URL (`TENANT_DATABASES`). */
  databases: readonly { key: string; workerUrl: string }[];
  batchSize?: number;
  maxBatches?: number;
  marginMs?: number;
  log?: Logger;
}): Promise<SweepOutcome[]> {
  if (deps.databases.length === 0) return [];
  const batch = deps.batchSize ?? BATCH;
  const maxBatches = deps.maxBatches ?? MAX_BATCHES;
  const read = await deps.control.query<{ flags: unknown; before: Date }>(
    `select coalesce(jsonb_agg(jsonb_build_object('key', key, 'id', id)), '[]'::jsonb) as flags,
            now() - make_interval(secs => $1::double precision / 1000) as before
       from feature_flags`,
    [deps.marginMs ?? SWEEP_MARGIN_MS],
  );
  const { flags, before } = read.rows[0]!;
  const outcomes: SweepOutcome[] = [];
  for (const d of deps.databases) {
    const pool = createPool({ url: d.workerUrl, max: 1, applicationName: 'saasready-flags-sweep' });
    try {
      let deleted = 0;
      for (let i = 0; i < maxBatches; i++) {
        const res = await pool.query<{ n: number }>(
          'select worker_api.app_flag_overrides_sweep($1::jsonb, $2, $3) as n',
          [JSON.stringify(flags), before, batch],
        );
        const n = res.rows[0]?.n ?? 0;
        deleted += n;
        if (n < batch) break;
      }
      outcomes.push({ key: d.key, deleted });
      if (deleted > 0)
        deps.log?.info({ tenant_database: d.key, deleted }, 'flag overrides of deleted flags swept');
    } catch (err) {
      outcomes.push({ key: d.key, error: (err as Error).message });
      deps.log?.error({ tenant_database: d.key, err: err as Error }, 'flag overrides sweep failed');
    } finally {
      await pool.end();
    }
  }
  return outcomes;
}
