import type { Logger } from 'pino';

/** Tracks one database outage at a time, so that it is logged when it begins and when it ends. */
export interface OutageMonitor {
  /** A request failed because the database is unavailable (logged only if no outage was known). */
  report(err: unknown): void;
  /** True between the first report and the probe's first success. */
  readonly down: boolean;
  /** Stops probing. */
  close(): void;
}

export interface OutageMonitorOptions {
  readonly log: Logger;
  /** Resolves when the database answers again (e.g. `select 1`); probed while an outage lasts. */
  readonly probe?: () => Promise<unknown>;
  readonly probeIntervalMs?: number;
}

/** Without a probe, an outage still logged is considered over after this long (and logged again). */
const UNPROBED_RELOG_MS = 60_000;

/** The first cause, as log fields (`error_code`: the logger redacts any field named `code`). */
function summary(err: unknown): { error_code?: string; cause: string } {
  const e = err as { code?: unknown; message?: unknown };
  const cause = typeof e?.message === 'string' && e.message ? e.message : String(err);
  return typeof e?.code === 'string' ? { error_code: e.code, cause } : { cause };
}

/**
 * One warning line when the database becomes unavailable (with the first cause), none for the requests
 * that fail during the outage, and one line when it is back (found by probing every second), with how
 * long it lasted and how many requests were refused.
 */
export function createOutageMonitor(opts: OutageMonitorOptions): OutageMonitor {
  const interval = opts.probeIntervalMs ?? 1000;
  let since = 0;
  let refused = 0;
  let timer: NodeJS.Timeout | undefined;
  let probing = false;

  const recovered = () => {
    opts.log.info({ outage_ms: Date.now() - since, refused_requests: refused }, 'database available again');
    since = 0;
    refused = 0;
    clearInterval(timer);
    timer = undefined;
  };

  const probeOnce = () => {
    if (probing || since === 0) return;
    if (!opts.probe) {
      if (Date.now() - since >= UNPROBED_RELOG_MS) recovered();
      return;
    }
    probing = true;
    opts
      .probe()
      .then(recovered, () => {})
      .finally(() => {
        probing = false;
      });
  };

  return {
    get down() {
      return since !== 0;
    },
    report(err) {
      refused += 1;
      if (since !== 0) return;
      since = Date.now();
      opts.log.warn(summary(err), 'database unavailable');
      timer = setInterval(probeOnce, interval);
      timer.unref();
    },
    close() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
