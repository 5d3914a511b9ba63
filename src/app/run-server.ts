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
 * Listens, prints the URL, and on SIGINT/SIGTERM shuts down in order: stop accepting connections, let
 * in-flight requests finish (bounded by SHUTDOWN_TIMEOUT_MS), close pools and caches, stop the embedded
 * PostgreSQL. A second signal exits at once.
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
  log.info({ url }, 'listening');
  process.stdout.write(`SaaSReady is running at ${url} (API docs: ${url}/docs)\n`);

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
  for (const signal of opts.exit === false ? [] : (['SIGINT', 'SIGTERM'] as const)) {
    process.on(signal, () => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      void shutdown(signal);
    });
  }
  return { url, shutdown: () => shutdown() };
}
