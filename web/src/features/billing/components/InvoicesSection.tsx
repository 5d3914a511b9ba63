import { Anchor, Badge, Table, Text } from '@mantine/core';
import { HeadedSection } from '../../../components/HeadedSection';
import { LoadMore } from '../../../components/LoadMore';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { loadedRows } from '../../../lib/paging';
import { invoicePdfHref, useInvoices } from '../api/listInvoices';
import { money } from '../money';
import { lastDay, shortDate } from './price-line';

/** The organization's issued invoices, newest first, a page at a time, each with its PDF. */
export function InvoicesSection({ org }: { readonly org: string }) {
  const invoices = useInvoices(org);
  const rows = loadedRows(invoices);
  return (
    <HeadedSection id="invoices" title="Invoices">
      <QueryState
        query={invoices}
        what="invoices"
        isEmpty={() => rows.length === 0}
        empty={
          <EmptyState title="No invoices yet">
            <Text size="sm" c="dimmed">
              An invoice is issued when a billing period closes.
            </Text>
          </EmptyState>
        }
      >
        {() => (
          <>
            <Table.ScrollContainer minWidth={480}>
              <Table striped aria-label="Invoices">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Number</Table.Th>
                    <Table.Th>Period</Table.Th>
                    <Table.Th ta="right">Total</Table.Th>
                    <Table.Th className="hide-narrow">Status</Table.Th>
                    <Table.Th>
                      <span className="visually-hidden">Download</span>
                    </Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((inv) => {
                    const label = inv.number ?? 'Draft';
                    return (
                      <Table.Tr key={inv.id}>
                        <Table.Td ff="monospace">{label}</Table.Td>
                        <Table.Td>
                          {shortDate(inv.periodStart)} – {lastDay(inv.periodEnd)}
                        </Table.Td>
                        <Table.Td ta="right">{money(inv.total, inv.currency, inv.minorUnits)}</Table.Td>
                        <Table.Td className="hide-narrow">
                          <Badge variant="light" color={inv.status === 'finalized' ? 'green' : 'gray'}>
                            {inv.status}
                          </Badge>
                        </Table.Td>
                        <Table.Td>
                          <Anchor href={invoicePdfHref(org, inv.id)} download size="sm">
                            PDF<span className="visually-hidden"> of invoice {label}</span>
                          </Anchor>
                        </Table.Td>
                      </Table.Tr>
                    );
                  })}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <LoadMore query={invoices}>More invoices</LoadMore>
          </>
        )}
      </QueryState>
    </HeadedSection>
  );
}
