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
