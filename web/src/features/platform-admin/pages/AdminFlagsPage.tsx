import { useState } from 'react';
import { Badge, Button, Group, Stack, Table, Text, Title } from '@mantine/core';
import { RowActions } from '../../../components/RowActions';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { LoadMore } from '../../../components/LoadMore';
import { loadedRows } from '../../../lib/paging';
import { formatFlagValue } from '../../flags/components/flag-value';
import { useFlagDefinitions, type FlagDefinition } from '../api/listFlagDefinitions';
import { AdminNotFound, AdminOnly, isRefusal } from '../components/AdminOnly';
import { targetingSummary } from '../components/flag-draft';
import { CreateFlagModal, DeleteFlagModal, EditFlagModal } from '../components/FlagModals';

/** Feature flag definitions: list, create, edit (rules, rollout, kill switch), delete. */
export default function AdminFlagsPage() {
  return (
    <AdminOnly>
      <FlagDefinitions />
    </AdminOnly>
  );
}

function FlagDefinitions() {
  const flags = useFlagDefinitions();
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<FlagDefinition | null>(null);
  const [deleting, setDeleting] = useState<FlagDefinition | null>(null);
  const rows = loadedRows(flags);
  if (isRefusal(flags.error)) return <AdminNotFound />;
  return (
    <Stack gap="md">
      <Group justify="space-between">
        <Title order={1} size="h2">
          Flag definitions
        </Title>
        <Button onClick={() => setCreating(true)}>New flag</Button>
      </Group>
      <Text size="sm" c="dimmed">
        Every organization evaluates these flags: kill switch, then its override (where allowed), then the
        first matching rule, then the rollout, then the default. Every change is recorded in the platform
        audit log.
      </Text>
      <QueryState
        query={flags}
        what="flag definitions"
        isEmpty={() => rows.length === 0}
        empty={
          <EmptyState title="No flags yet">
            <Button variant="light" onClick={() => setCreating(true)}>
              Define the first flag
            </Button>
          </EmptyState>
        }
      >
        {() => (
          <>
            <Table.ScrollContainer minWidth={480}>
              <Table striped>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Flag</Table.Th>
                    <Table.Th>Status</Table.Th>
                    <Table.Th className="hide-narrow">Default</Table.Th>
                    <Table.Th className="hide-narrow">Targeting</Table.Th>
                    <Table.Th className="hide-narrow">Version</Table.Th>
                    <Table.Th>
                      <span className="visually-hidden">Actions</span>
                    </Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((f) => (
                    <Table.Tr key={f.key}>
                      <Table.Td>
                        <Text size="sm" ff="monospace" className="break-anywhere">
                          {f.key}
                        </Text>
                        <Text size="xs" c="dimmed" lineClamp={2}>
                          {f.kind}
                          {f.allowOrgOverride ? ' · overridable' : ''}
                          {f.description ? ` · ${f.description}` : ''}
                        </Text>
                      </Table.Td>
                      <Table.Td>
                        {f.killed ? (
                          <Badge variant="dot" color="red">
                            Killed
                          </Badge>
                        ) : (
                          <Badge variant="dot" color="green">
                            Live
                          </Badge>
                        )}
                      </Table.Td>
                      <Table.Td className="hide-narrow">
                        <Text size="sm" className="break-anywhere">
                          {formatFlagValue(f.defaultValue)}
                        </Text>
                      </Table.Td>
                      <Table.Td className="hide-narrow">
                        <Text size="sm">{targetingSummary(f)}</Text>
                      </Table.Td>
                      <Table.Td className="hide-narrow">{f.version}</Table.Td>
                      <Table.Td>
                        <RowActions
                          name={f.key}
                          onEdit={() => setEditing(f)}
                          onDelete={() => setDeleting(f)}
                        />
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <LoadMore query={flags} />
          </>
        )}
      </QueryState>
      <CreateFlagModal open={creating} onClose={() => setCreating(false)} />
      <EditFlagModal flag={editing} onClose={() => setEditing(null)} />
      <DeleteFlagModal flag={deleting} onClose={() => setDeleting(null)} />
    </Stack>
  );
}
