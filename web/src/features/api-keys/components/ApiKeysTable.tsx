import { Badge, Button, Group, Table, Text } from '@mantine/core';
import type { Schemas } from '../../../api/client';

type ApiKey = Schemas['ApiKey'];

/** The server's default rate limit, for keys created without one (docs/api-keys.md). */
const DEFAULT_RATE_LIMIT = 600;

export type KeyStatus = 'active' | 'revoked' | 'expired';

export function statusOf(k: ApiKey, now = Date.now()): KeyStatus {
  if (k.revokedAt) return 'revoked';
  if (k.expiresAt && new Date(k.expiresAt).getTime() <= now) return 'expired';
  return 'active';
}

const STATUS_COLOR: Record<KeyStatus, string> = { active: 'green', revoked: 'red', expired: 'gray' };

const day = (iso: string | null, none: string) => (iso ? new Date(iso).toLocaleDateString() : none);
const moment = (iso: string | null, none: string) => (iso ? new Date(iso).toLocaleString() : none);

/** The organization's keys: name, public prefix, scopes, dates, status; revoke for the live ones. */
export function ApiKeysTable({
  keys,
  onRevoke,
}: {
  readonly keys: readonly ApiKey[];
  readonly onRevoke: (k: ApiKey) => void;
}) {
  return (
    <Table.ScrollContainer minWidth={320}>
      <Table striped verticalSpacing="sm">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th className="hide-narrow">Key</Table.Th>
            <Table.Th className="hide-narrow">Scopes</Table.Th>
            <Table.Th className="hide-narrow">Created</Table.Th>
            <Table.Th className="hide-narrow">Last used</Table.Th>
            <Table.Th className="hide-narrow">Expires</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>
              <span className="visually-hidden">Actions</span>
            </Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {keys.map((k) => {
            const status = statusOf(k);
            return (
              <Table.Tr key={k.id}>
                <Table.Td>
                  <Text size="sm" fw={500} className="break-anywhere">
                    {k.name}
                  </Text>
                  <Text size="xs" c="dimmed">
                    {k.rateLimitPerMinute ?? DEFAULT_RATE_LIMIT} requests/min
                  </Text>
                </Table.Td>
                <Table.Td className="hide-narrow">
                  <Text size="sm" ff="monospace">
                    srk_{k.keyId}_…
                  </Text>
                </Table.Td>
                <Table.Td className="hide-narrow">
                  <Group gap={4} maw={260}>
                    {k.scopes.map((s) => (
                      <Badge key={s} variant="light" color="gray" tt="none">
                        {s}
                      </Badge>
                    ))}
                  </Group>
                </Table.Td>
                <Table.Td className="hide-narrow">{day(k.createdAt, '—')}</Table.Td>
                <Table.Td className="hide-narrow">{moment(k.lastUsedAt, 'Never')}</Table.Td>
                <Table.Td className="hide-narrow">{day(k.expiresAt, 'Never')}</Table.Td>
                <Table.Td>
                  <Badge variant="light" color={STATUS_COLOR[status]}>
                    {status}
                  </Badge>
                </Table.Td>
                <Table.Td>
                  {status === 'revoked' ? null : (
                    <Button
                      size="compact-sm"
                      variant="subtle"
                      color="red"
                      aria-label={`Revoke ${k.name}`}
                      onClick={() => onRevoke(k)}
                    >
                      Revoke
                    </Button>
                  )}
                </Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
