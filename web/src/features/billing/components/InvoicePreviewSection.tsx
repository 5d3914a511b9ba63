import { Stack, Table, Text, Title } from '@mantine/core';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { useInvoicePreview } from '../api/previewInvoice';
import { money } from '../money';
import { lastDay, shortDate } from './price-line';

/** The current period's invoice as it stands now, line by line, with its total. */
export function InvoicePreviewSection({ org }: { readonly org: string }) {
  const preview = useInvoicePreview(org);
  return (
    <Stack gap="sm" component="section" aria-labelledby="invoice-preview">
      <Title order={2} size="h3" id="invoice-preview">
        This period’s invoice so far
      </Title>
      <QueryState
        query={preview}
        what="the invoice preview"
        isEmpty={(p) => p.lines.length === 0}
        empty={
          <EmptyState title="Nothing to bill this period">
            <Text size="sm" c="dimmed">
              The plan has no price, and no usage is charged.
            </Text>
          </EmptyState>
        }
      >
        {(p) => (
          <>
            <Text size="sm" c="dimmed">
              {shortDate(p.periodStart)} – {lastDay(p.periodEnd)}: usage so far and seats now. A plan changed
              during the period is charged by the day on each plan.
            </Text>
            <Table.ScrollContainer minWidth={480}>
              <Table aria-label="Invoice preview">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Line</Table.Th>
                    <Table.Th ta="right">Quantity</Table.Th>
                    <Table.Th ta="right" className="hide-narrow">
                      Unit price
                    </Table.Th>
                    <Table.Th ta="right">Amount</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {p.lines.map((l, i) => (
                    <Table.Tr key={`${l.planKey}-${l.component}-${l.meter ?? ''}-${l.periodStart}-${i}`}>
                      <Table.Td>
                        <Text size="sm">{l.description}</Text>
                        <Text size="xs" c="dimmed">
                          {shortDate(l.periodStart)} – {lastDay(l.periodEnd)}
                        </Text>
                      </Table.Td>
                      <Table.Td ta="right">{l.quantity.toLocaleString('en')}</Table.Td>
                      <Table.Td ta="right" className="hide-narrow">
                        {l.unitAmount === undefined ? '—' : money(l.unitAmount, p.currency)}
                      </Table.Td>
                      <Table.Td ta="right">{money(l.amount, p.currency)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
                <Table.Tfoot>
                  {p.subtotal !== p.total ? (
                    <Table.Tr>
                      <Table.Th colSpan={3}>Subtotal</Table.Th>
                      <Table.Td ta="right">{money(p.subtotal, p.currency)}</Table.Td>
                    </Table.Tr>
                  ) : null}
                  <Table.Tr>
                    <Table.Th colSpan={3}>Total</Table.Th>
                    <Table.Td ta="right" fw={700} data-testid="preview-total">
                      {money(p.total, p.currency)}
                    </Table.Td>
                  </Table.Tr>
                </Table.Tfoot>
              </Table>
            </Table.ScrollContainer>
          </>
        )}
      </QueryState>
    </Stack>
  );
}
