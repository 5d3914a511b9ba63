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
  /** How long after a commit its organization is sealed (batches the events of busy organizations). */
  readonly delayMs?: number;
  /** On stop, how long to keep sealing what this process recorded. */
  readonly stopBudgetMs?: number;
}

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
 * the organization's pending events are sealed, batch after batch, until a call finds none. The head
 * is taken with SKIP LOCKED: if another process is sealing that organization, it is retried next tick.
 * A failure is logged and left to the next event, the sweep, or a reader (reads seal first).
 */
export function createAuditSealer(opts: AuditSealerOptions): AuditSealer {
  const delayMs = opts.delayMs ?? 1000;
  const due = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let sweepTimer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const schedule = () => {
    if (timer || stopped || due.size === 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      void tick();
    }, delayMs);
    timer.unref();
  };

  /** One pass over the due organizations; each is kept due while a call sealed something. */
  async function sealDue(deadline = Number.POSITIVE_INFINITY): Promise<void> {
    const orgs = [...due];
    due.clear();
    for (const org of orgs) {
      if (Date.now() > deadline) {
        due.add(org);
        continue;
      }
      try {
        const n = await sealBatch(opts.withTenant, org, { wait: false, max: SEAL_BATCH });
        if (n !== 0) due.add(org); // sealed some (check again) or busy elsewhere (-1: retry)
      } catch (err) {
        opts.log?.error({ tenant_id: org, err: (err as Error).message }, 'audit seal failed');
      }
    }
  }

  async function tick(): Promise<void> {
    if (running) return;
    running = sealDue().finally(() => {
      running = undefined;
      schedule();
    });
    await running;
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
      await tick();
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
    async flush() {
      await running;
      while (due.size > 0) await sealDue();
    },
    async stop() {
      stopped = true;
      for (const u of unsubscribe) u();
      clearTimeout(timer);
      clearInterval(sweepTimer);
      timer = undefined;
      const deadline = Date.now() + (opts.stopBudgetMs ?? 2000);
      await running;
      while (due.size > 0 && Date.now() < deadline) await sealDue(deadline);
      if (due.size > 0) {
        opts.log?.warn(
          { organizations: due.size },
          'audit events left pending at stop: the sweep seals them',
        );
      }
    },
  };
}
