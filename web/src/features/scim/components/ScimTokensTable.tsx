import { Badge, Button, Group, Table, Text } from '@mantine/core';
import type { Schemas } from '../../../api/client';

type ScimToken = Schemas['ScimToken'];

const moment = (iso: string | null, none: string) => (iso ? new Date(iso).toLocaleString() : none);

/** The organization's SCIM tokens: public prefix, dates, status; rotate and revoke for the live ones. */
export function ScimTokensTable({
  tokens,
  onRotate,
  onRevoke,
}: {
  readonly tokens: readonly ScimToken[];
  readonly onRotate: (t: ScimToken) => void;
  readonly onRevoke: (t: ScimToken) => void;
}) {
  return (
    <Table.ScrollContainer minWidth={320}>
      <Table striped verticalSpacing="sm">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Token</Table.Th>
            <Table.Th className="hide-narrow">Created</Table.Th>
            <Table.Th className="hide-narrow">Last used</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>
              <span className="visually-hidden">Actions</span>
            </Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {tokens.map((t) => (
            <Table.Tr key={t.id}>
              <Table.Td>
                <Text size="sm" ff="monospace">
                  scim_{t.tokenId}_…
                </Text>
              </Table.Td>
              <Table.Td className="hide-narrow">{moment(t.createdAt, '—')}</Table.Td>
              <Table.Td className="hide-narrow">{moment(t.lastUsedAt, 'Never')}</Table.Td>
              <Table.Td>
                <Badge variant="light" color={t.revokedAt ? 'red' : 'green'}>
                  {t.revokedAt ? 'revoked' : 'active'}
                </Badge>
              </Table.Td>
              <Table.Td>
                {t.revokedAt ? null : (
                  <Group gap="xs" justify="flex-end" wrap="nowrap">
                    <Button
                      size="xs"
                      variant="light"
                      onClick={() => onRotate(t)}
                      aria-label={`Rotate scim_${t.tokenId}`}
                    >
                      Rotate
                    </Button>
                    <Button
                      size="xs"
                      variant="light"
                      color="red"
                      onClick={() => onRevoke(t)}
                      aria-label={`Revoke scim_${t.tokenId}`}
                    >
                      Revoke
                    </Button>
                  </Group>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
