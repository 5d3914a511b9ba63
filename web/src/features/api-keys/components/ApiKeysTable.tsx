import { Badge, Button, Group, Text } from '@mantine/core';
import type { Schemas } from '../../../api/client';
import { DataTable } from '../../../components/ListTable';

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
    <DataTable
      rows={keys}
      rowKey={(k) => k.id}
      striped
      verticalSpacing="sm"
      columns={[
        {
          header: 'Name',
          cell: (k) => (
            <>
              <Text size="sm" fw={500} className="break-anywhere">
                {k.name}
              </Text>
              <Text size="xs" c="dimmed">
                {k.rateLimitPerMinute ?? DEFAULT_RATE_LIMIT} requests/min
              </Text>
            </>
          ),
        },
        {
          header: 'Key',
          wide: true,
          cell: (k) => (
            <Text size="sm" ff="monospace">
              srk_{k.keyId}_…
            </Text>
          ),
        },
        {
          header: 'Scopes',
          wide: true,
          cell: (k) => (
            <Group gap={4} maw={260}>
              {k.scopes.map((s) => (
                <Badge key={s} variant="light" color="gray" tt="none">
                  {s}
                </Badge>
              ))}
            </Group>
          ),
        },
        { header: 'Created', wide: true, cell: (k) => day(k.createdAt, '—') },
        { header: 'Last used', wide: true, cell: (k) => moment(k.lastUsedAt, 'Never') },
        { header: 'Expires', wide: true, cell: (k) => day(k.expiresAt, 'Never') },
        {
          header: 'Status',
          cell: (k) => (
            <Badge variant="light" color={STATUS_COLOR[statusOf(k)]}>
              {statusOf(k)}
            </Badge>
          ),
        },
      ]}
      actions={(k) =>
        statusOf(k) === 'revoked' ? null : (
          <Button
            size="compact-sm"
            variant="subtle"
            color="red"
            aria-label={`Revoke ${k.name}`}
            onClick={() => onRevoke(k)}
          >
            Revoke
          </Button>
        )
      }
    />
  );
}
