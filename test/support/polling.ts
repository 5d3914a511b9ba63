/**
 * Polls `fn` every 50 ms until `ok` holds or `ms` have passed, and returns the last value either way
 * (the caller's assertion then says what was wrong). For state a background job reaches eventually:
 * aggregation, notices, mail.
 */
export async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A plan price with no components: a plan that costs nothing, for tests about quotas and seats. */
export const FREE_PRICE = { currency: 'USD', interval: 'month', components: [] };
