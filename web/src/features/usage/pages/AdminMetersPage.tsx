import { useState } from 'react';
import { Badge, Button, Group, Stack, Table, Text, Title } from '@mantine/core';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { LoadMore } from '../../../components/LoadMore';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { notifySuccess } from '../../../components/notify';
import { loadedRows } from '../../../lib/paging';
import { AdminNotFound, AdminOnly, isRefusal } from '../../platform-admin/components/AdminOnly';
import { useArchiveMeter, usePlatformMeters, type Meter } from '../api/platformMeters';
import { CreateMeterModal, EditMeterModal } from '../components/MeterModals';

/** The meter catalog: list, create, edit unit and description, archive (platform administrators). */
export default function AdminMetersPage() {
  return (
    <AdminOnly>
      <Meters />
    </AdminOnly>
  );
}

function Meters() {
  const meters = usePlatformMeters();
  const archive = useArchiveMeter();
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<Meter | null>(null);
  const [archiving, setArchiving] = useState<Meter | null>(null);
  const rows = loadedRows(meters);
  if (isRefusal(meters.error)) return <AdminNotFound />;
  return (
    <Stack gap="md">
      <Group justify="space-between">
        <Title order={1} size="h2">
          Meters
        </Title>
        <Button onClick={() => setCreating(true)}>New meter</Button>
      </Group>
      <Text size="sm" c="dimmed">
        What organizations’ usage is counted in. A meter’s key, aggregation and property never change; an
        archived meter refuses new events and keeps its usage. Every change is recorded in the platform audit
        log.
      </Text>
      <QueryState
        query={meters}
        what="meters"
        isEmpty={() => rows.length === 0}
        empty={<EmptyState title="No meters yet" />}
      >
        {() => (
          <>
            <Table.ScrollContainer minWidth={560}>
              <Table striped>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Meter</Table.Th>
                    <Table.Th>Aggregation</Table.Th>
                    <Table.Th>Unit</Table.Th>
                    <Table.Th className="hide-narrow">Description</Table.Th>
                    <Table.Th>
                      <span className="visually-hidden">Actions</span>
                    </Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((m) => (
                    <Table.Tr key={m.key}>
                      <Table.Td>
                        <Text size="sm" ff="monospace" className="break-anywhere">
                          {m.key}
                        </Text>
                        {m.archivedAt ? (
                          <Badge variant="outline" color="dark" size="sm">
                            Archived
                          </Badge>
                        ) : null}
                      </Table.Td>
                      <Table.Td>
                        <Text size="sm">
                          {m.aggregation}
                          {m.property ? ` of ${m.property}` : ''}
                        </Text>
                      </Table.Td>
                      <Table.Td>{m.unit || '—'}</Table.Td>
                      <Table.Td className="hide-narrow">
                        <Text size="xs">{m.description || '—'}</Text>
                      </Table.Td>
                      <Table.Td>
                        <Group gap={4} wrap="nowrap">
                          <Button
                            size="compact-sm"
                            variant="subtle"
                            aria-label={`Edit ${m.key}`}
                            onClick={() => setEditing(m)}
                          >
                            Edit
                          </Button>
                          {m.archivedAt ? null : (
                            <Button
                              size="compact-sm"
                              variant="subtle"
                              color="red"
                              aria-label={`Archive ${m.key}`}
                              onClick={() => setArchiving(m)}
                            >
                              Archive
                            </Button>
                          )}
                        </Group>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <LoadMore query={meters} />
          </>
        )}
      </QueryState>
      <CreateMeterModal opened={creating} onClose={() => setCreating(false)} />
      <EditMeterModal meter={editing} onClose={() => setEditing(null)} />
      <ConfirmDialog
        opened={archiving !== null}
        title={`Archive ${archiving?.key ?? 'meter'}?`}
        confirmLabel="Archive meter"
        mutation={archive}
        onClose={() => setArchiving(null)}
        onConfirm={(close) => {
          if (!archiving) return;
          archive.mutate(archiving.key, {
            onSuccess: (m) => {
              notifySuccess(`Meter ${m.key} archived`);
              close();
            },
          });
        }}
      >
        New events for this meter will be refused. Its usage so far stays, and cannot be archived back: there
        is no restore.
      </ConfirmDialog>
    </Stack>
  );
}
