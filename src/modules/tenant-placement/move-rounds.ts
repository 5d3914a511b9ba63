import type { Logger } from 'pino';

/**
 * The two loops every kind of move shares (docs/isolation-models.md, "Online moves"): catch-up rounds before
 * the freeze, and the freeze retried when it waited too long for the organization's running transactions.
 */

/** Runs catch-up rounds (`round` answers the rows it changed) while each finds fewer rows than the one before
 *  and more than `enough` (default 100), at most `max` (default 8). */
export async function catchUpRounds(
  round: (n: number) => Promise<number>,
  opts: { enough?: number; max?: number },
): Promise<void> {
  const enough = opts.enough ?? 100;
  const max = opts.max ?? 8;
  let before = Infinity;
  for (let n = 1; n <= max; n++) {
    const changed = await round(n);
    if (changed <= enough || changed >= before) return;
    before = changed;
  }
}

/** Runs the freeze, again (up to `attempts`, default 3, in all) when it gave up waiting for the lock
 *  (SQLSTATE 55P03, its lock timeout): nothing of a freeze that failed was kept. */
export async function retryOnLockTimeout(
  freeze: () => Promise<void>,
  opts: { attempts?: number; log?: Logger; move: string },
): Promise<void> {
  const attempts = opts.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    try {
      await freeze();
      return;
    } catch (err) {
      if ((err as { code?: string }).code === '55P03' && attempt < attempts) {
        opts.log?.warn({ move: opts.move, attempt }, 'placement move: the switch waited too long, again');
        continue;
      }
      throw err;
    }
  }
}
