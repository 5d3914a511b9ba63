import { useState } from 'react';
import { Badge, Button, Group, Stack, Text, TextInput, Title } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { ListTable } from '../../../components/ListTable';
import { EmptyState } from '../../../components/QueryState';
import { loadedRows } from '../../../lib/paging';
import { usePlatformOrganizations, type PlatformOrganization } from '../api/listPlatformOrganizations';
import { AdminNotFound, AdminOnly, isRefusal } from '../components/AdminOnly';
import { SuspendModal } from '../components/SuspendModal';
import { TargetingModal } from '../components/TargetingModal';
import { PlacementModal } from '../components/PlacementModal';
import { PlacementMoves } from '../components/PlacementMoves';
import { PlacementBadge } from '../components/PlacementBadge';

/** Every organization (search by name or slug): plan and attributes, suspension, placement (as the
 *  server records it) and placement moves. */
export default function AdminOrganizationsPage() {
  return (
    <AdminOnly>
      <Organizations />
    </AdminOnly>
  );
}

function Organizations() {
  const [search, setSearch] = useState('');
  const [q] = useDebouncedValue(search.trim(), 300);
  const orgs = usePlatformOrganizations(q);
  const [targeting, setTargeting] = useState<PlatformOrganization | null>(null);
  const [suspending, setSuspending] = useState<PlatformOrganization | null>(null);
  // By id: the dialog follows the row as the list reloads (a move starting or ending changes it).
  const [placingId, setPlacingId] = useState<string | null>(null);
  const rows = loadedRows(orgs);
  const placing = rows.find((o) => o.id === placingId) ?? null;
  if (isRefusal(orgs.error)) return <AdminNotFound />;
  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Organizations
      </Title>
      <TextInput
        label="Search"
        description="Part of a name or slug, in any case"
        value={search}
        maxLength={100}
        onChange={(e) => setSearch(e.currentTarget.value)}
        maw={420}
      />
      <ListTable
        query={orgs}
        what="organizations"
        empty={<EmptyState title={q ? `No organization matches “${q}”` : 'No organizations yet'} />}
        minWidth={480}
        striped
        label="Organizations"
        rowKey={(o) => o.id}
        columns={[
          {
            header: 'Organization',
            cell: (o) => (
              <>
                <Text size="sm" fw={500} className="break-anywhere">
                  {o.name}
                </Text>
                <Text size="xs" c="dimmed" className="break-anywhere">
                  {o.slug}
                  {o.personal ? ' · personal' : ''}
                </Text>
              </>
            ),
          },
          { header: 'Status', cell: (o) => <StatusBadge org={o} /> },
          { header: 'Placement', cell: (o) => <PlacementBadge placement={o.placement} /> },
          {
            header: 'Plan',
            wide: true,
            cell: (o) => (
              <>
                <Text size="sm">{o.plan}</Text>
                <Text size="xs" c="dimmed">
                  {Object.keys(o.attributes).length} attribute
                  {Object.keys(o.attributes).length === 1 ? '' : 's'}
                </Text>
              </>
            ),
          },
          { header: 'Members', wide: true, cell: (o) => o.members },
          { header: 'Created', wide: true, cell: (o) => new Date(o.createdAt).toLocaleDateString() },
        ]}
        actions={(o) => (
          <Group gap="xs" justify="flex-end" wrap="nowrap">
            <Button
              size="compact-sm"
              variant="subtle"
              aria-label={`Plan and attributes of ${o.name}`}
              onClick={() => setTargeting(o)}
            >
              Plan
            </Button>
            <Button
              size="compact-sm"
              variant="subtle"
              aria-label={`Placement of ${o.name}`}
              onClick={() => setPlacingId(o.id)}
            >
              Placement
            </Button>
            {o.deletionRequestedAt ? null : (
              <Button
                size="compact-sm"
                variant="subtle"
                color={o.suspendedAt ? 'blue' : 'red'}
                aria-label={`${o.suspendedAt ? 'Reactivate' : 'Suspend'} ${o.name}`}
                onClick={() => setSuspending(o)}
              >
                {o.suspendedAt ? 'Reactivate' : 'Suspend'}
              </Button>
            )}
          </Group>
        )}
      />
      <TargetingModal org={targeting} onClose={() => setTargeting(null)} />
      <SuspendModal org={suspending} onClose={() => setSuspending(null)} />
      <PlacementModal org={placing} onClose={() => setPlacingId(null)} />
      {orgs.isSuccess ? <PlacementMoves names={new Map(rows.map((o) => [o.id, o.name]))} /> : null}
    </Stack>
  );
}

function StatusBadge({ org }: { readonly org: PlatformOrganization }) {
  if (org.deletionRequestedAt) {
    return (
      <Badge variant="dot" color="gray">
        Pending deletion
      </Badge>
    );
  }
  if (org.suspendedAt) {
    return (
      <Badge variant="dot" color="red">
        Suspended
      </Badge>
    );
  }
  return (
    <Badge variant="dot" color="green">
      Active
    </Badge>
  );
}
