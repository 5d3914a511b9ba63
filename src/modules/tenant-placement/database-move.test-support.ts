/**
 * Test load and helpers of the move tests (imported by tests only): continuous writers on the moving
 * organization (inserts, updates, deletes; pairs of rows with an audit event in one transaction), a reader
 * checking that no pair is ever seen half, and a writer on another organization, until `stop()`; the
 * organizations they move, their rows per placed table, and the latencies over a freeze.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { uuidv7 } from '../../platform/ids.js';
import { recordAudit } from '../../platform/audit/record.js';
import { systemCtx } from '../../platform/tenancy/context.js';
import { placedTables } from '../../platform/tenancy/placed-tables.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { createBareOrganization } from '../organizations/organization-records.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A pooled organization (slug `<prefix>-<random>`, named `prefix`) with `projects` projects; `audit`: each
 *  project's creation audited (`project.created`, by that actor) in its transaction. */
export async function newMoveOrg(
  tenancy: Tenancy,
  prefix: string,
  projects: number,
  opts: { audit?: string } = {},
): Promise<string> {
  const org = (
    await createBareOrganization(tenancy.withTenant, {
      slug: `${prefix}-${randomBytes(5).toString('hex')}`,
      name: prefix,
    })
  ).id;
  for (let i = 0; i < projects; i++) {
    await tenancy.withTenant(org, async (t) => {
      await t
        .insertInto('projects')
        .values({ organization_id: org, id: uuidv7(), name: `p${i}` })
        .execute();
      if (opts.audit) {
        await recordAudit(t, systemCtx(org, opts.audit), {
          action: 'project.created',
          target: { type: 'project', id: String(i) },
        });
      }
    });
  }
  return org;
}

/** The organization's rows per placed table (from the catalog) in `schema` of the database of `c`; none
 *  when that schema is not there (a schema it left is dropped). */
export async function placedRows(
  c: pg.Client,
  org: string,
  schema = 'public',
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  if ((await c.query('select 1 from pg_namespace where nspname = $1', [schema])).rowCount === 0) return out;
  for (const t of await placedTables(c)) {
    const r = await c.query<{ n: number }>(
      `select count(*)::int as n from "${schema}".${t} where organization_id = $1`,
      [org],
    );
    if (r.rows[0]!.n > 0) out[t] = r.rows[0]!.n;
  }
  return out;
}

type Latency = { at: number; ms: number };

/** The longest request of the moving organization and of the other over a freeze (from the switch,
 *  `holdMs` long: the requests that ended after it began and began before it ended). */
export function freezeLatencies(
  load: { orgLatencies: Latency[]; otherLatencies: Latency[] },
  switchedAt: Date,
  holdMs: number,
): { org: number; other: number } {
  const at = switchedAt.getTime();
  const inFreeze = (l: Latency) => l.at + l.ms >= at && l.at <= at + holdMs;
  return {
    org: Math.max(...load.orgLatencies.filter(inFreeze).map((l) => l.ms)),
    other: Math.max(...load.otherLatencies.filter(inFreeze).map((l) => l.ms)),
  };
}

/** `pauseMs`: a pause after each write of the moving organization's writers (default none: as fast as
 *  they go), for tests that run several moves under one load and must keep the organization small.
 *  `tag`: put in the names it writes, for loads one after another on one organization. */
export function moveLoad(tenancy: Tenancy, org: string, other: string, pauseMs = 0, tag = '') {
  let running = true;
  const acked = new Set<string>();
  const deleted = new Set<string>();
  const otherAcked = new Set<string>();
  const otherLatencies: Latency[] = [];
  const orgLatencies: Latency[] = [];
  const halfPairs: string[] = [];
  const errors: unknown[] = [];
  // Pairs committed (each with one `project.paired` audit event).
  const pairsAcked = { n: 0 };
  const failed = (err: unknown) => {
    errors.push(err);
    if (errors.length >= 100) running = false;
  };
  const insert = (o: string, name: string) =>
    tenancy.withTenant(o, (t) =>
      t
        .insertInto('projects')
        .values({ organization_id: o, id: uuidv7(), name })
        .returning('id')
        .executeTakeFirstOrThrow(),
    );
  const writer = async () => {
    let i = 0;
    while (running) {
      const t0 = Date.now();
      try {
        const { id } = await insert(org, `${tag}w-${i++}`);
        acked.add(id);
        if (i % 5 === 0) {
          await tenancy.withTenant(org, (t) =>
            t.deleteFrom('projects').where('organization_id', '=', org).where('id', '=', id).execute(),
          );
          acked.delete(id);
          deleted.add(id);
        } else if (i % 3 === 0) {
          await tenancy.withTenant(org, (t) =>
            t
              .updateTable('projects')
              .set({ description: 'updated' })
              .where('organization_id', '=', org)
              .where('id', '=', id)
              .execute(),
          );
        }
        orgLatencies.push({ at: t0, ms: Date.now() - t0 });
      } catch (err) {
        failed(err);
      }
      if (pauseMs > 0) await sleep(pauseMs);
    }
  };
  let pairs = 0;
  const pairWriter = async () => {
    while (running) {
      const n = pairs++;
      try {
        const ids = await tenancy.withTenant(org, async (t) => {
          const made: string[] = [];
          for (const side of ['a', 'b']) {
            const id = uuidv7();
            await t
              .insertInto('projects')
              .values({ organization_id: org, id, name: `pair-${tag}${n}-${side}` })
              .execute();
            made.push(id);
          }
          await recordAudit(t, systemCtx(org, 'move-test'), {
            action: 'project.paired',
            target: { type: 'project', id: String(n) },
          });
          return made;
        });
        for (const id of ids) acked.add(id);
        pairsAcked.n++;
      } catch (err) {
        failed(err);
      }
      if (pauseMs > 0) await sleep(pauseMs);
    }
  };
  const reader = async () => {
    while (running) {
      try {
        const names = await tenancy.withTenant(
          org,
          async (t) =>
            (
              await t
                .selectFrom('projects')
                .select('name')
                .where('organization_id', '=', org)
                .where('name', 'like', 'pair-%')
                .execute()
            ).map((r) => r.name),
          { mode: 'read' },
        );
        const set = new Set(names);
        for (const name of names) {
          const twin = name.endsWith('-a') ? name.replace(/-a$/, '-b') : name.replace(/-b$/, '-a');
          if (!set.has(twin)) halfPairs.push(name);
        }
      } catch (err) {
        failed(err);
      }
    }
  };
  const otherWriter = async () => {
    let i = 0;
    while (running) {
      const t0 = Date.now();
      try {
        const { id } = await insert(other, `${tag}o-${i++}`);
        otherAcked.add(id);
        otherLatencies.push({ at: t0, ms: Date.now() - t0 });
      } catch (err) {
        failed(err);
      }
      await sleep(2);
    }
  };
  const all = Promise.all([writer(), pairWriter(), reader(), otherWriter()]);
  return {
    acked,
    deleted,
    otherAcked,
    otherLatencies,
    orgLatencies,
    halfPairs,
    errors,
    pairsAcked,
    async stop() {
      running = false;
      await all;
    },
  };
}
