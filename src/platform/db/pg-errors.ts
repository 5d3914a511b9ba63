/** True when `err` is a PostgreSQL unique violation, optionally on the named constraint or index. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; constraint?: unknown };
  return e.code === '23505' && (constraint === undefined || e.constraint === constraint);
}

/** True when `err` is a PostgreSQL foreign key violation, optionally on the named constraint. */
export function isForeignKeyViolation(err: unknown, constraint?: string): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; constraint?: unknown };
  return e.code === '23503' && (constraint === undefined || e.constraint === constraint);
}

/** SQLSTATEs of a statement PostgreSQL failed because of what ran beside it, not because of itself: nothing
 *  of its transaction is kept, and the same work done again a moment later succeeds. */
const TRANSIENT_CONFLICT_SQLSTATES = new Set([
  '40P01', // deadlock_detected: this transaction was chosen to break a lock cycle (e.g. with concurrent DDL)
  '40001', // serialization_failure
  '55P03', // lock_not_available (a lock_timeout or NOWAIT)
]);

/**
 * True when `err` (or its `cause`) is a PostgreSQL failure caused by concurrent work (a deadlock, a
 * serialization failure, a lock not obtained in time): a transient condition, answered 503 with
 * Retry-After over HTTP, never 500.
 */
export function isTransientConflict(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 4) return false;
  const e = err as { code?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && TRANSIENT_CONFLICT_SQLSTATES.has(e.code)) return true;
  return isTransientConflict(e.cause, depth + 1);
}

/** SQLSTATEs of a server that is going away or not there yet, or of a connection that broke. */
const UNAVAILABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down, in recovery)
  '53300', // too_many_connections
]);
/** Socket-level failures reaching the server. */
const UNAVAILABLE_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** node-postgres's own messages for a lost or unobtainable connection (they carry no code). */
const UNAVAILABLE_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/;

/**
 * True when `err` says the database cannot be reached or dropped the connection (connection exception
 * class 08, shutdown 57P01-03, too many connections, refused or reset sockets, node-postgres's connection
 * timeouts and terminated connections, no tenant-database connection free under the cap in time),
 * looking through `cause` and AggregateError members: a condition of the deployment, not a bug of the
 * request, answered 503 over HTTP.
 */
export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 4) return false;
  const e = err as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string') {
    // No connection to a tenant database free under TENANT_DB_MAX_CONNECTIONS in time (tenancy core).
    if (e.code === 'TENANT_DATABASE_BUSY' || e.code === 'PLACEMENT_BEHIND' || e.code === 'PLACEMENT_MISSING')
      return true;
    if (UNAVAILABLE_SQLSTATES.has(e.code) || /^08[0-9A-Z]{3}$/.test(e.code)) return true;
    if (UNAVAILABLE_ERRNOS.has(e.code)) return true;
  }
  if (typeof e.message === 'string' && UNAVAILABLE_MESSAGES.test(e.message)) return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => isDatabaseUnavailable(x, depth + 1))) return true;
  return isDatabaseUnavailable(e.cause, depth + 1);
}
