import type pg from 'pg';

/**
 * How many schema placements are not synchronized to `latest` (migration 0042's
 * `app_priv_placements_behind`): `/readyz` asks it. A count only, never which organizations: the probe
 * is public; `npx saasready migrate status` and the server log name them. Contract: outside any tenant
 * scope (a plain pool query is).
 */
export async function schemaPlacementsBehind(pool: pg.Pool, latest: string): Promise<number> {
  const res = await pool.query<{ n: number }>('select app_priv_placements_behind($1) as n', [latest]);
  return res.rows[0]?.n ?? 0;
}
