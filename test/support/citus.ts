import pg from 'pg';
import type { TestContext } from 'vitest';
import { testDb } from './tenancy.js';

const installed = new Map<string, Promise<boolean>>();

/** Whether the database at `url` (the suite's, by default) has the citus extension (docs/citus.md). */
export function onCitus(url: string = testDb().adminUrl): Promise<boolean> {
  let known = installed.get(url);
  if (!known) {
    known = (async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        const res = await c.query(`select 1 from pg_catalog.pg_extension where extname = 'citus'`);
        return res.rows.length > 0;
      } finally {
        await c.end();
      }
    })();
    installed.set(url, known);
  }
  return known;
}

/**
 * Skips the running test when the suite runs on Citus, saying why: for the few tests that exercise what
 * only plain PostgreSQL has (a trigger the test adds to a tenant table, which Citus refuses on a
 * distributed one; the append-only guard triggers, which the distribution replaces by privileges alone).
 * Call it first in the test: `await notOnCitus(ctx, 'why')`.
 */
export async function notOnCitus(ctx: TestContext, why: string, url?: string): Promise<void> {
  if (await onCitus(url)) ctx.skip(`not run on Citus: ${why}`);
}
