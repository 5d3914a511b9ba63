import type { ReactNode } from 'react';
import { Table, type MantineSpacing } from '@mantine/core';

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
  /** The row's buttons, in a last column whose header only screen readers read. */
  readonly actions?: (row: T) => ReactNode;
  readonly minWidth?: number;
  readonly striped?: boolean;
  readonly verticalSpacing?: MantineSpacing;
  /** The table's accessible name, when the page has more than one list. */
  readonly label?: string;
}

/**
 * The console's list table: a horizontally scrolling table of `rows`, one cell per column, and, with
 * `actions`, a last column of row buttons whose header is for screen readers only ("Actions").
 */
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
