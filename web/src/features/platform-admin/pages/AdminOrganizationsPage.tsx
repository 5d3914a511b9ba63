import { useState } from 'react';
import { Badge, Button, Group, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { LoadMore } from '../../../components/LoadMore';
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
      <QueryState
        query={orgs}
        what="organizations"
        isEmpty={() => rows.length === 0}
        empty={<EmptyState title={q ? `No organization matches “${q}”` : 'No organizations yet'} />}
      >
        {() => (
          <>
            <Table.ScrollContainer minWidth={480}>
              <Table striped aria-label="Organizations">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Organization</Table.Th>
                    <Table.Th>Status</Table.Th>
                    <Table.Th>Placement</Table.Th>
                    <Table.Th className="hide-narrow">Plan</Table.Th>
                    <Table.Th className="hide-narrow">Members</Table.Th>
                    <Table.Th className="hide-narrow">Created</Table.Th>
                    <Table.Th>
                      <span className="visually-hidden">Actions</span>
                    </Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((o) => (
                    <Table.Tr key={o.id}>
                      <Table.Td>
                        <Text size="sm" fw={500} className="break-anywhere">
                          {o.name}
                        </Text>
                        <Text size="xs" c="dimmed" className="break-anywhere">
                          {o.slug}
                          {o.personal ? ' · personal' : ''}
                        </Text>
                      </Table.Td>
                      <Table.Td>
                        <StatusBadge org={o} />
                      </Table.Td>
                      <Table.Td>
                        <PlacementBadge placement={o.placement} />
                      </Table.Td>
                      <Table.Td className="hide-narrow">
                        <Text size="sm">{o.plan}</Text>
                        <Text size="xs" c="dimmed">
                          {Object.keys(o.attributes).length} attribute
                          {Object.keys(o.attributes).length === 1 ? '' : 's'}
                        </Text>
                      </Table.Td>
                      <Table.Td className="hide-narrow">{o.members}</Table.Td>
                      <Table.Td className="hide-narrow">
                        {new Date(o.createdAt).toLocaleDateString()}
                      </Table.Td>
                      <Table.Td>
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
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <LoadMore query={orgs} />
          </>
        )}
      </QueryState>
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
