import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { systemCtx, type TenantCtx } from '../../platform/tenancy/context.js';
import type { UsageEventInput, UsageEventsService } from './usage-events.service.js';
import { parseDecimal } from './usage-model.js';

/**
 * `recordUsage(ctx, meter, value)`: usage recorded from inside the product, without a write per call.
 * Amounts add up in memory per organization and meter and are flushed every `flushMs` (and on close)
 * through the same ingestion path as the API, as one event per organization and meter with a
 * deterministic id (`internal:<process>:<flush>:<meter>`): a flush that failed is retried with the same
 * ids and timestamp, so a retry that reaches the database twice is a `duplicate`, never counted twice.
 * Meant for count meters (the amount is the event's weight) and sum meters. Amounts add up exactly, as
 * decimals scaled by 10^12 in a bigint (the precision ingestion accepts), never as floats: 0.1 + 0.2 is
 * flushed as 0.3. A number is taken at 12 decimals (`toFixed(12)`), a string as the exact decimal it is.
 * A crash loses what was added since the last flush (at most `flushMs` of usage), never more.
 */
export interface UsageRecorder {
  record(ctx: Pick<TenantCtx, 'tenantId'>, meter: string, value?: number | string): void;
  flush(): Promise<void>;
  start(): void;
  close(): Promise<void>;
}

export function createUsageRecorder(deps: {
  events: Pick<UsageEventsService, 'ingest'>;
  flushMs?: number;
  log?: Logger;
  now?: () => number;
}): UsageRecorder {
  const instance = randomUUID();
  const now = deps.now ?? Date.now;
  let flushes = 0;
  let buffer = new Map<string, Map<string, bigint>>();
  /** Flushed batches that failed, retried as they were (same ids, same timestamp). */
  const retry = new Map<string, UsageEventInput[]>();
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | null = null;

  async function flushNow(): Promise<void> {
    const current = buffer;
    buffer = new Map();
    const seq = ++flushes;
    const timestamp = new Date(now()).toISOString();
    for (const [org, meters] of current) {
      const batch = retry.get(org) ?? [];
      for (const [meter, amount] of meters) {
        if (amount === 0n) continue; // nothing to report (and a count meter refuses a weight of 0)
        batch.push({
          id: `internal:${instance}:${seq}:${meter}`,
          meter,
          value: formatScaled(amount),
          timestamp,
        });
      }
      retry.set(org, batch);
    }
    for (const [org, batch] of [...retry]) {
      try {
        const res = await deps.events.ingest(systemCtx(org, 'usage.record'), batch, { source: 'internal' });
        for (const r of res.results) {
          if (r.status === 'error') {
            deps.log?.warn({ component: 'usage', org, error: r.error }, 'internal usage refused');
          }
        }
        retry.delete(org);
      } catch (err) {
        deps.log?.warn({ component: 'usage', org, err }, 'internal usage flush failed: retried next time');
      }
    }
  }

  const flush = (): Promise<void> => {
    const p = (flushing ?? Promise.resolve()).then(flushNow);
    flushing = p.finally(() => {
      if (flushing === p) flushing = null;
    });
    return p;
  };

  return {
    record(ctx, meter, value = 1) {
      // The built-in api_requests meter records 1 on every request: skip the decimal conversion for it.
      const scaled = value === 1 ? ONE : toScaled(value);
      if (scaled === null) {
        deps.log?.warn({ component: 'usage', meter, value: String(value) }, 'internal usage: not a decimal');
        return;
      }
      let meters = buffer.get(ctx.tenantId);
      if (!meters) buffer.set(ctx.tenantId, (meters = new Map<string, bigint>()));
      meters.set(meter, (meters.get(meter) ?? 0n) + scaled);
    },
    flush,
    start() {
      const ms = deps.flushMs ?? 5000;
      timer = setInterval(() => void flush(), ms);
      timer.unref();
    },
    async close() {
      if (timer) clearInterval(timer);
      await flush();
    },
  };
}

const SCALE = 12;
const ONE = 10n ** BigInt(SCALE);

/** A number (at 12 decimals) or a decimal string as an integer count of 10^-12, or null. */
export function toScaled(value: number | string): bigint | null {
  let text: string | null;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || Math.abs(value) >= 1e20) return null;
    text = value.toFixed(SCALE);
  } else text = parseDecimal(value);
  if (text === null) return null;
  const negative = text.startsWith('-');
  const [int = '0', frac = ''] = (negative ? text.slice(1) : text).split('.');
  const n = BigInt(int) * ONE + BigInt(frac.padEnd(SCALE, '0') || '0');
  return negative ? -n : n;
}

/** The canonical decimal text of a scaled amount (no trailing zeros, no trailing point). */
export function formatScaled(n: bigint): string {
  const negative = n < 0n;
  const abs = negative ? -n : n;
  const int = (abs / ONE).toString();
  const frac = (abs % ONE).toString().padStart(SCALE, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${int}${frac ? `.${frac}` : ''}`;
}
