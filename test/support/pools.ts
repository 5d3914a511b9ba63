import pg from 'pg';

/**
 * A pool on a test database that listens for its connections' errors: an idle connection of a database
 * dropped at teardown is terminated by the server (57P01), and a pool without a listener raises that as
 * an unhandled error, which fails the run even when every test passed. Queries still reject as usual.
 */
export function testPool(config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config);
  pool.on('error', () => {});
  return pool;
}
