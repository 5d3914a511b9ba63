import type { Logger } from 'pino';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { touchLastUsed } from './api-keys.repository.js';

export interface ApiKeyUsage {
  /** Notes that a key was used now. In memory only: no I/O on the request's path. */
  record(orgId: string, keyId: string): void;
  /** Writes the recorded uses: one UPDATE per organization, `last_used_at` only ever moving forward. */
  flush(): Promise<void>;
  /** Stops the timer and writes what is left. */
  close(): Promise<void>;
}

/**
 * `last_used_at` in batches: each use is kept in memory (the latest per key) and written every
 * `intervalMs` (default 10 s) and on close, one statement per organization inside its tenant scope.
 * A failed write is merged back into the next batch. The value is therefore at most one interval old
 * (plus the time of a crash: uses not yet flushed are lost, which only makes `last_used_at` older).
 */
export function createApiKeyUsage(deps: {
  withTenant: WithTenant;
  intervalMs?: number;
  log?: Logger;
  now?: () => number;
}): ApiKeyUsage {
  const now = deps.now ?? Date.now;
  /** orgId → keyId → latest use (ms). */
  let pending = new Map<string, Map<string, number>>();
  let running: Promise<void> = Promise.resolve();

  const merge = (orgId: string, keyId: string, at: number) => {
    let keys = pending.get(orgId);
    if (!keys) pending.set(orgId, (keys = new Map<string, number>()));
    const prev = keys.get(keyId);
    if (prev === undefined || at > prev) keys.set(keyId, at);
  };

  async function write(batch: Map<string, Map<string, number>>): Promise<void> {
    for (const [orgId, keys] of batch) {
      const uses = [...keys].map(([id, at]) => ({ id, at: new Date(at) }));
      try {
        await deps.withTenant(orgId, (db) => touchLastUsed(db, orgId, uses));
      } catch (err) {
        deps.log?.warn(
          { err: (err as Error).message, tenant_id: orgId },
          'api key last_used_at write failed',
        );
        for (const [id, at] of keys) merge(orgId, id, at);
      }
    }
  }

  const flush = (): Promise<void> => {
    // One flush at a time, each taking what was recorded before it started.
    running = running
      .then(async () => {
        if (pending.size === 0) return;
        const batch = pending;
        pending = new Map();
        await write(batch);
      })
      .catch((err: unknown) => {
        deps.log?.error({ err: (err as Error).message }, 'api key usage flush failed');
      });
    return running;
  };

  const timer = setInterval(() => void flush(), deps.intervalMs ?? 10_000);
  timer.unref();

  return {
    record(orgId, keyId) {
      merge(orgId, keyId, now());
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
