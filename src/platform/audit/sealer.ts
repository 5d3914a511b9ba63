import type { Logger } from 'pino';
import type { WithTenant } from '../tenancy/with-tenant.js';
import type { TenantDb } from '../tenancy/tenant-database.js';
import { onAuditRecorded } from './record.js';
import { sealBatch, SEAL_BATCH } from './seal.js';

export interface AuditSealerOptions {
  readonly withTenant: WithTenant;
  /** The tenant database(s) whose committed audit events this sealer hears about. */
  readonly databases: readonly TenantDb[];
  readonly log?: Logger;
  /** How long after a commit its organization is sealed (batches the events of busy organizations).
   *  5 s by default: each seal call has a fixed cost (about 1 ms, a transaction and the head lock), so
   *  over 100 active organizations a 1 s delay spent more on calls than on the events; readers never
   *  wait for it (they seal first) and verify reports the unsealed tail. */
  readonly delayMs?: number;
  /** On stop, how long to keep sealing what this process recorded. */
  readonly stopBudgetMs?: number;
  /** Seal calls at the same time (each call is one transaction on its own connection: one organization,
   *  or a group of them with `sealMany`). 4 by default: a seal call's cost is mostly its COMMIT's WAL
   *  flush, and PostgreSQL flushes concurrent commits together, so several calls at once cost less CPU
   *  and far less time than one after the other. */
  readonly concurrency?: number;
  /**
   * Seals a batch of each of several organizations in one transaction (`auditSealOrganizations`,
   * `app_audit_seal_many`, migration 0070), returning each one's count (-1: another sealer holds its head;
   * -2: not on that database, or moving; -3: not reached, the call sealed `budget` events first). Where
   * given, the sealer's batches go through it, `perCall` organizations a call; without it (the Citus setter,
   * tests), each organization is one `sealBatch` call. Organizations it reports -2 (tenant databases'
   * organizations, a missing schema, a moving organization), and every one of a call that failed, take the
   * per-organization path.
   */
  readonly sealMany?: (
    orgs: readonly string[],
    max: number,
    budget: number,
  ) => Promise<ReadonlyMap<string, number>>;
  /** Organizations per `sealMany` call (default 50, at most 1000). */
  readonly perCall?: number;
}

/** `sealMany`'s count of an organization it did not seal because its tables are not on its database. */
const NOT_HERE = -2;
/** `sealMany`'s count of an organization it did not reach: the call had sealed its budget. */
const NOT_REACHED = -3;
/** Events one `sealMany` call seals at most (then it stops at the next organization): a reader waiting for a
 *  head the call holds waits for the whole call, about 80 µs per event. */
export const SEAL_MANY_BUDGET = 4 * SEAL_BATCH;

export interface AuditSealer {
  /**
   * Also seals, at once and then every `intervalMs`, every organization with pending events, whoever
   * recorded them (a process that stopped before sealing leaves them): only where the job worker runs,
   * since listing them is the worker role's question.
   */
  startSweep(
    orgsPending: (after: string | null, limit: number) => Promise<string[]>,
    intervalMs?: number,
  ): void;
  /** Seals now what is due (tests, shutdown). */
  flush(): Promise<void>;
  /** Stops the timers and seals what this process recorded, for at most `stopBudgetMs`. */
  stop(): Promise<void>;
}

/**
 * The in-process sealer: each committed audit event schedules its organization; about `delayMs` later
 * the organization's pending events are sealed, batch after batch (with `sealMany`, the batches of several
 * organizations in one transaction). The head is taken with SKIP LOCKED:
 * if another process is sealing that organization, it is retried next tick.
 * A failure is logged and left to the next event, the sweep, or a reader (reads seal first).
 */
export function createAuditSealer(opts: AuditSealerOptions): AuditSealer {
  const delayMs = opts.delayMs ?? 5000;
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const sealMany = opts.sealMany;
  const perCall = Math.min(Math.max(1, opts.perCall ?? 50), 1000);
  const due = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  let pass: Promise<number> | undefined;
  let stopped = false;

  const schedule = () => {
    if (timer || stopped || due.size === 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      void runPass();
    }, delayMs);
    timer.unref();
  };

  /**
   * Seals every due organization round-robin (`concurrency` calls at a time): one batch per organization per
   * turn, more turns while any batch came back full, so one busy organization cannot starve the others. With
   * `sealMany`, a turn's organizations go in groups of up to `perCall`, one transaction per group, each
   * organization's batch its share of the call's budget (so none of a group waits behind the others'
   * backlog); an organization it reports not here (-2: a tenant database's, a moving one), or every one of a
   * group whose call failed, is sealed by its own call (`sealBatch`); one it did not reach (-3, its budget
   * spent) goes to the next turn, as a full batch does. An organization whose batch came back short has what
   * was committed before it sealed; what commits later schedules it again (no recheck needed). One another
   * sealer holds (-1), or any still unfinished at the deadline, stays due; a failure is logged and left to
   * the next event, the sweep or a reader. Returns how many it sealed.
   */
  async function sealDue(deadline: number): Promise<number> {
    let turn = [...due];
    due.clear();
    let total = 0;
    while (turn.length > 0) {
      const isFull: boolean[] = [];
      const settle = (at: number, n: number, max: number) => {
        if (n === NOT_REACHED) {
          isFull[at] = true; // the next turn
          return;
        }
        if (n < 0) due.add(turn[at]!);
        else total += n;
        isFull[at] = n >= max;
      };
      const sealOne = async (at: number) => {
        const org = turn[at]!;
        try {
          settle(at, await sealBatch(opts.withTenant, org, { wait: false, max: SEAL_BATCH }), SEAL_BATCH);
        } catch (err) {
          opts.log?.error({ tenant_id: org, err: (err as Error).message }, 'audit seal failed');
        }
      };
      // The turn in groups of consecutive organizations (of even sizes), one call each.
      const calls = sealMany ? Math.ceil(turn.length / perCall) : turn.length;
      const size = Math.ceil(turn.length / calls);
      const groups = Array.from({ length: calls }, (_, g) => {
        const from = g * size;
        return Array.from({ length: Math.min(size, turn.length - from) }, (_, i) => from + i);
      }).filter((g) => g.length > 0);
      let next = 0;
      let late = false;
      // `concurrency` workers take the turn's groups in order.
      const worker = async () => {
        while (next < groups.length && !late) {
          if (Date.now() > deadline) {
            late = true;
            break;
          }
          const group = groups[next++]!;
          let counts: ReadonlyMap<string, number> | undefined;
          // Each organization's batch is its share of the call's budget, so every one of the group gets
          // a batch this turn (a backlog of the first cannot spend the budget before the last are reached).
          const max = Math.max(1, Math.min(SEAL_BATCH, Math.floor(SEAL_MANY_BUDGET / group.length)));
          if (sealMany) {
            try {
              counts = await sealMany(
                group.map((at) => turn[at]!),
                max,
                SEAL_MANY_BUDGET,
              );
            } catch (err) {
              opts.log?.warn(
                { organizations: group.length, err: (err as Error).message },
                'audit seal of several organizations failed: sealing each on its own',
              );
            }
          }
          for (const at of group) {
            const n = counts?.get(turn[at]!);
            if (n === undefined || n === NOT_HERE) await sealOne(at);
            else settle(at, n, max);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, groups.length) }, worker));
      // In the turn's order, whatever order the batches finished in.
      const full = turn.filter((_, i) => isFull[i]);
      if (late) {
        for (const rest of groups.slice(next)) for (const at of rest) due.add(turn[at]!);
        for (const rest of full) due.add(rest);
        return total;
      }
      turn = full;
    }
    return total;
  }

  /** One pass at a time (the timer, the sweep and flush share it). */
  function runPass(deadline = Number.POSITIVE_INFINITY): Promise<number> {
    pass ??= sealDue(deadline).finally(() => {
      pass = undefined;
      schedule();
    });
    return pass;
  }

  /** Passes until nothing is due (or the deadline), pausing when the only due ones are busy elsewhere. */
  async function drain(deadline = Number.POSITIVE_INFINITY): Promise<void> {
    await pass;
    while (due.size > 0 && Date.now() < deadline) {
      if ((await runPass(deadline)) === 0 && due.size > 0) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  const unsubscribe = opts.databases.map((db) =>
    onAuditRecorded(db, (org) => {
      due.add(org);
      schedule();
    }),
  );

  async function sweep(orgsPending: (after: string | null, limit: number) => Promise<string[]>) {
    try {
      let after: string | null = null;
      for (;;) {
        const ids = await orgsPending(after, 500);
        for (const id of ids) due.add(id);
        if (ids.length < 500) break;
        after = ids[ids.length - 1]!;
      }
      await runPass();
    } catch (err) {
      opts.log?.error({ err: (err as Error).message }, 'audit seal sweep failed');
    }
  }

  return {
    startSweep(orgsPending, intervalMs = 5000) {
      if (sweepTimer || stopped) return;
      void sweep(orgsPending);
      sweepTimer = setInterval(() => void sweep(orgsPending), intervalMs);
      sweepTimer.unref();
    },
    flush: () => drain(),
    async stop() {
      stopped = true;
      for (const u of unsubscribe) u();
      clearTimeout(timer);
      clearInterval(sweepTimer);
      timer = undefined;
      await drain(Date.now() + (opts.stopBudgetMs ?? 2000));
      if (due.size > 0) {
        opts.log?.warn(
          { organizations: due.size },
          'audit events left pending at stop: the sweep seals them',
        );
      }
    },
  };
}
