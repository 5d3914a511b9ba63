import type { ReactNode } from 'react';
import { Table, type MantineSpacing } from '@mantine/core';
import type { UseInfiniteQueryResult } from '@tanstack/react-query';
import { loadedRows } from '../lib/paging';
import { LoadMore } from './LoadMore';
import { QueryState, type QueryLike } from './QueryState';

/** One column: its header and what each row shows in it. */
export interface Column<T> {
  readonly header: ReactNode;
  readonly cell: (row: T) => ReactNode;
  /** Dropped on narrow screens (app.css `.hide-narrow`, under 600 px). */
  readonly wide?: boolean;
}

export interface DataTableProps<T> {
  readonly rows: readonly T[];
  readonly rowKey: (row: T) => string;
  readonly columns: readonly Column<T>[];
  /** The row's buttons, in a last column whose header only screen readers read ("Actions"). */
  readonly actions?: (row: T) => ReactNode;
  readonly minWidth?: number;
  readonly striped?: boolean;
  readonly verticalSpacing?: MantineSpacing;
  /** The table's accessible name, when the page has more than one list. */
  readonly label?: string;
}

/** The console's list table: a horizontally scrolling table of `rows`, one cell per column. */
export function DataTable<T>({
  rows,
  rowKey,
  columns,
  actions,
  minWidth = 320,
  striped = false,
  verticalSpacing,
  label,
}: DataTableProps<T>) {
  const narrow = (c: Column<T>) => (c.wide ? 'hide-narrow' : undefined);
  return (
    <Table.ScrollContainer minWidth={minWidth}>
      <Table striped={striped} verticalSpacing={verticalSpacing} aria-label={label}>
        <Table.Thead>
          <Table.Tr>
            {columns.map((c, i) => (
              <Table.Th key={i} className={narrow(c)}>
                {c.header}
              </Table.Th>
            ))}
            {actions ? (
              <Table.Th>
                <span className="visually-hidden">Actions</span>
              </Table.Th>
            ) : null}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((r) => (
            <Table.Tr key={rowKey(r)}>
              {columns.map((c, i) => (
                <Table.Td key={i} className={narrow(c)}>
                  {c.cell(r)}
                </Table.Td>
              ))}
              {actions ? <Table.Td>{actions(r)}</Table.Td> : null}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

/** A cursor-paged query (pages of `{ data, nextCursor }`). */
type PagedQuery<T> = QueryLike<{ readonly pages: readonly { readonly data: readonly T[] }[] }> &
  Pick<UseInfiniteQueryResult, 'hasNextPage' | 'isFetchingNextPage' | 'fetchNextPage'>;

/** A list of one page (`{ data }`): the rows of a list no longer than a page. */
type PageQuery<T> = QueryLike<{ readonly data: readonly T[] }>;

/**
 * A list screen or section: the loading and error states of its query, the empty state when it has no
 * rows, else the {@link DataTable} of its rows and, for a cursor-paged query, its Load more.
 */
export function ListTable<T>({
  query,
  what,
  empty,
  ...table
}: Omit<DataTableProps<T>, 'rows'> & {
  readonly query: PagedQuery<T> | PageQuery<T>;
  /** What is loading, for screen readers ("your sessions"). */
  readonly what: string;
  /** Drawn when there are no rows. */
  readonly empty: ReactNode;
}) {
  const paged = 'fetchNextPage' in query ? query : null;
  const rows: readonly T[] = paged ? loadedRows(paged) : ((query as PageQuery<T>).data?.data ?? []);
  return (
    <QueryState<unknown> query={query} what={what} isEmpty={() => rows.length === 0} empty={empty}>
      {() => (
        <>
          <DataTable rows={rows} {...table} />
          {paged ? <LoadMore query={paged} /> : null}
        </>
      )}
    </QueryState>
  );
}
