import type { ReactNode } from 'react';
import type { UseInfiniteQueryResult } from '@tanstack/react-query';
import { DataTable, type DataTableProps } from './DataTable';
import { LoadMore } from './LoadMore';
import { QueryState, type QueryLike } from './QueryState';

/**
 * A list screen or section: the loading and error states of its query, the empty state when `rows` is
 * empty, else the {@link DataTable} of `rows` and, for a cursor-paged query (`more`), its Load more.
 */
export function ListTable<T>({
  query,
  what,
  rows,
  empty,
  more,
  ...table
}: DataTableProps<T> & {
  readonly query: QueryLike<unknown>;
  /** What is loading, for screen readers ("your sessions"). */
  readonly what: string;
  /** The rows loaded so far (`loadedRows(query)` of a paged query, `data.data` of a single page). */
  readonly rows: readonly T[];
  /** Drawn when there are no rows. */
  readonly empty: ReactNode;
  /** The paged query whose next page Load more fetches. */
  readonly more?: Pick<UseInfiniteQueryResult, 'hasNextPage' | 'isFetchingNextPage' | 'fetchNextPage'>;
}) {
  return (
    <QueryState query={query} what={what} isEmpty={() => rows.length === 0} empty={empty}>
      {() => (
        <>
          <DataTable rows={rows} {...table} />
          {more ? <LoadMore query={more} /> : null}
        </>
      )}
    </QueryState>
  );
}
