import type { Logger } from 'pino';
import type { AppConfig } from '../platform/config.js';
import type { Composition } from './compose.js';

export interface RunServerOptions {
  readonly composition: Composition;
  readonly config: Pick<AppConfig, 'host' | 'port' | 'shutdownTimeoutMs' | 'publicUrl'>;
  readonly log: Logger;
  /** Runs after the server and pools are closed (stops the embedded database). */
  readonly onStopped: () => Promise<void>;
  /** Exit the process when done, and handle SIGINT/SIGTERM (default true; tests pass false). */
  readonly exit?: boolean;
}

/**
 * A repeat of the first signal within this long is the same request delivered twice (a signal to the
 * process group reaches the server and also npm, which forwards it), not a second request to stop.
 */
export const DUPLICATE_SIGNAL_WINDOW_MS = 3000;

/**
 * Listens, prints the URL, and on SIGINT/SIGTERM shuts down in order: stop accepting connections, let
 * in-flight requests finish (bounded by SHUTDOWN_TIMEOUT_MS), close pools and caches, stop the embedded
 * PostgreSQL. A second request to stop exits at once: a different signal, or the same one again after
 * {@link DUPLICATE_SIGNAL_WINDOW_MS}; the same signal within that window is a duplicate delivery and
 * changes nothing.
 */
export async function runServer(
  opts: RunServerOptions,
): Promise<{ url: string; shutdown: () => Promise<void> }> {
  const { composition, config, log } = opts;
  const { app } = composition;
  await app.listen({ host: config.host, port: config.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const url = config.publicUrl ?? `http://localhost:${port}`;

  let stopping: Promise<void> | undefined;
  const shutdown = (signal = 'shutdown'): Promise<void> => {
    if (stopping) return stopping;
    log.info({ signal }, 'shutting down: draining in-flight requests');
    stopping = (async () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), config.shutdownTimeoutMs);
      });
      const closed = await Promise.race([app.close().then(() => 'closed' as const), timeout]);
      clearTimeout(timer);
      if (closed === 'timeout') log.warn('shutdown timeout reached; closing remaining connections');
      app.server.closeAllConnections?.();
      await composition.close().catch((err: unknown) => log.error({ err }, 'error closing pools'));
      await opts.onStopped().catch((err: unknown) => log.error({ err }, 'error stopping database'));
      log.info('stopped');
      if (opts.exit !== false) process.exit(0);
    })();
    return stopping;
  };
  let first: { signal: NodeJS.Signals; at: number } | undefined;
  for (const signal of opts.exit === false ? [] : (['SIGINT', 'SIGTERM'] as const)) {
    process.on(signal, () => {
      if (!first) {
        first = { signal, at: Date.now() };
        void shutdown(signal);
        return;
      }
      if (signal === first.signal && Date.now() - first.at < DUPLICATE_SIGNAL_WINDOW_MS) {
        log.info({ signal }, 'repeated signal taken as the same request to stop; still draining');
        return;
      }
      log.warn({ signal }, 'second request to stop: exiting now');
      process.exit(1);
    });
  }
  // Announced once a signal can stop it gracefully (a supervisor may signal as soon as it reads this).
  log.info({ url, pid: process.pid }, 'listening');
  process.stdout.write(`SaaSReady is running at ${url} (API docs: ${url}/docs)\n`);
  return { url, shutdown: () => shutdown() };
}
