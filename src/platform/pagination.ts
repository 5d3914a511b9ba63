import { AppError } from './errors.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

/** The page size a list uses: the caller's `limit` clamped to 1…MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE if none. */
export function pageLimit(limit: number | undefined): number {
  return Math.min(Math.max(limit ?? DEFAULT_PAGE_SIZE, 1), MAX_PAGE_SIZE);
}

/** A seq-like cursor key: a positive integer (as text) that fits a bigint. */
export const isSeqKey = (k: string): boolean => /^[1-9][0-9]{0,17}$/.test(k);

export class PaginationError extends AppError<'INVALID_CURSOR'> {}

/** Opaque cursor: base64url of the last item's sort key. */
export function encodeCursor(key: string): string {
  return Buffer.from(JSON.stringify({ k: key })).toString('base64url');
}

/** Decodes a cursor made by `encodeCursor`; anything else is a 400. */
export function decodeCursor(
  cursor: string | undefined,
  validate: (k: string) => boolean,
): string | undefined {
  if (cursor === undefined) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { k?: unknown };
    if (typeof parsed.k === 'string' && validate(parsed.k)) return parsed.k;
  } catch {
    // fall through
  }
  throw new PaginationError('INVALID_CURSOR', 'cursor is not valid', 400);
}

/** One page of a list. `nextCursor` is null on the last page. */
export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/** Turns `limit + 1` fetched rows into a page. */
export function toPage<R, T>(rows: R[], limit: number, key: (r: R) => string, map: (r: R) => T): Page<T> {
  const more = rows.length > limit;
  const slice = more ? rows.slice(0, limit) : rows;
  const last = slice[slice.length - 1];
  return { data: slice.map(map), nextCursor: more && last ? encodeCursor(key(last)) : null };
}
