import { Badge, Table, Text } from '@mantine/core';
import type { Schemas } from '../../../api/client';

type ScimEvent = Schemas['ScimEvent'];

/** The sync log: when, what the identity provider asked, and how it went. */
export function ScimEventsTable({ events }: { readonly events: readonly ScimEvent[] }) {
  return (
    <Table.ScrollContainer minWidth={320}>
      <Table striped verticalSpacing="xs">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>When</Table.Th>
            <Table.Th>Request</Table.Th>
            <Table.Th className="hide-narrow">Resource id</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th className="hide-narrow">Outcome</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {events.map((e) => (
            <Table.Tr key={e.id}>
              <Table.Td>{new Date(e.at).toLocaleString()}</Table.Td>
              <Table.Td>
                <Text size="sm" ff="monospace">
                  {e.method} {e.resource}
                </Text>
              </Table.Td>
              <Table.Td className="hide-narrow">
                <Text size="xs" ff="monospace" className="break-anywhere">
                  {e.resourceId ?? '—'}
                </Text>
              </Table.Td>
              <Table.Td>
                <Badge variant="light" color={e.status < 400 ? 'green' : 'red'}>
                  {e.status}
                </Badge>
              </Table.Td>
              <Table.Td className="hide-narrow">
                <Text size="sm" className="break-anywhere">
                  {e.outcome}
                </Text>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
