/**
 * Test load of the move tests (imported by tests only): continuous writers on the moving organization
 * (inserts, updates, deletes; pairs of rows with an audit event in one transaction), a reader checking
 * that no pair is ever seen half, and a writer on another organization, until `stop()`.
 */
import { uuidv7 } from '../../platform/ids.js';
import { recordAudit } from '../../platform/audit/record.js';
import { systemCtx } from '../../platform/tenancy/context.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `pauseMs`: a pause after each write of the moving organization's writers (default none: as fast as
 *  they go), for tests that run several moves under one load and must keep the organization small. */
export function moveLoad(tenancy: Tenancy, org: string, other: string, pauseMs = 0) {
  let running = true;
  const acked = new Set<string>();
  const deleted = new Set<string>();
  const otherAcked = new Set<string>();
  const otherLatencies: { at: number; ms: number }[] = [];
  const orgLatencies: { at: number; ms: number }[] = [];
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
        const { id } = await insert(org, `w-${i++}`);
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
              .values({ organization_id: org, id, name: `pair-${n}-${side}` })
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
        const { id } = await insert(other, `o-${i++}`);
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
