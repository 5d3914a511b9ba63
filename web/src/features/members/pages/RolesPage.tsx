import { useState } from 'react';
import { Badge, Button, Group, Stack, Table, Text, Title } from '@mantine/core';
import { RowActions } from '../../../components/RowActions';
import type { Permission } from '../../../../../src/platform/authz/permissions';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { LoadMore } from '../../../components/LoadMore';
import { loadedRows } from '../../../lib/paging';
import { useOrg } from '../../organizations/components/org-context';
import { useRolePages, type Role } from '../api/listRoles';
import { CreateRoleModal, DeleteRoleModal, EditRoleModal } from '../components/RoleModals';

/**
 * Roles: the built-in ones (read-only) and the organization's custom roles with their permissions
 * (cursor paging); members with `members:update_role` create, edit and delete custom roles within their
 * own permissions.
 */
export default function RolesPage() {
  const { org, can } = useOrg();
  const roles = useRolePages(org.slug);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<Role | null>(null);
  const [deleting, setDeleting] = useState<Role | null>(null);
  const manage = can('members:update_role');
  const rows = loadedRows(roles);
  const custom = rows.filter((r) => !r.builtIn);
  // A role holding a permission the member lacks: the server refuses to let them edit or delete it.
  const beyond = (r: Role) => r.permissions.some((p) => !can(p as Permission));
  return (
    <Stack gap="md">
      <Group justify="space-between">
        <Title order={1} size="h2">
          Roles
        </Title>
        {manage ? <Button onClick={() => setCreating(true)}>New role</Button> : null}
      </Group>
      <Text size="sm" c="dimmed">
        A member’s role decides what they may do. Built-in roles cannot change; custom roles combine the
        permissions below.
      </Text>
      <QueryState
        query={roles}
        what="roles"
        isEmpty={() => rows.length === 0}
        empty={<EmptyState title="No roles" />}
      >
        {() => (
          <>
            <Table.ScrollContainer minWidth={320}>
              <Table striped>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Role</Table.Th>
                    <Table.Th>Permissions</Table.Th>
                    <Table.Th>
                      <span className="visually-hidden">Actions</span>
                    </Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((r) => (
                    <Table.Tr key={r.key}>
                      <Table.Td>
                        <Text size="sm" fw={600}>
                          {r.name}
                        </Text>
                        <Group gap={4} wrap="wrap">
                          <Text size="xs" c="dimmed">
                            {r.key}
                          </Text>
                          <Badge size="xs" variant="light" color={r.builtIn ? 'gray' : 'blue'}>
                            {r.builtIn ? 'built-in' : 'custom'}
                          </Badge>
                        </Group>
                      </Table.Td>
                      <Table.Td>
                        {r.permissions.length === 0 ? (
                          <Text size="sm" c="dimmed">
                            None
                          </Text>
                        ) : (
                          <Group gap={4} wrap="wrap">
                            {r.permissions.map((p) => (
                              <Badge key={p} size="sm" variant="default" tt="none">
                                {p}
                              </Badge>
                            ))}
                          </Group>
                        )}
                      </Table.Td>
                      <Table.Td>
                        {!r.builtIn && manage ? (
                          beyond(r) ? (
                            <Text size="xs" c="dimmed">
                              Beyond your permissions
                            </Text>
                          ) : (
                            <RowActions
                              name={r.name}
                              onEdit={() => setEditing(r)}
                              onDelete={() => setDeleting(r)}
                            />
                          )
                        ) : null}
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            {roles.hasNextPage ? (
              <LoadMore query={roles} />
            ) : custom.length === 0 ? (
              <EmptyState title="No custom roles yet">
                {manage ? (
                  <Button variant="light" onClick={() => setCreating(true)}>
                    Create a custom role
                  </Button>
                ) : (
                  <Text size="sm" c="dimmed">
                    Your role cannot create roles.
                  </Text>
                )}
              </EmptyState>
            ) : null}
          </>
        )}
      </QueryState>
      <CreateRoleModal open={creating} onClose={() => setCreating(false)} />
      <EditRoleModal role={editing} onClose={() => setEditing(null)} />
      <DeleteRoleModal role={deleting} onClose={() => setDeleting(null)} />
    </Stack>
  );
}
