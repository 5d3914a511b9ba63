import pg from 'pg';

export interface PoolOptions {
  readonly url: string;
  readonly max: number;
  readonly applicationName?: string;
  readonly statementTimeoutMs?: number;
}

/**
 * A pg pool with guard rails: statements and idle transactions time out, and a broken idle client
 * is dropped without crashing the process.
 */
export function createPool(opts: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.max,
    application_name: opts.applicationName ?? 'saasready',
    statement_timeout: opts.statementTimeoutMs ?? 30_000,
    idle_in_transaction_session_timeout: 60_000,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', () => {
    // An idle client lost its connection; the pool discards it. Nothing to do.
  });
  pool.on('connect', (client) => {
    // A checked-out client that loses its connection fails its query; the event must not crash the process.
    client.on('error', () => {});
  });
  return pool;
}
