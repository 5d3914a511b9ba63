import { Badge, Button, Group, Table, Text } from '@mantine/core';
import type { Permission } from '../../../../../src/platform/authz/permissions';
import { useOrg } from '../../organizations/components/org-context';
import type { Member } from '../api/listMembers';
import { useRoles } from '../api/listRoles';
import { useRoleName } from './RoleSelect';
import './members.css';

/**
 * The members with their role, status and date, and what the signed-in member may do to each: change
 * role (`members:update_role`), remove (`members:remove`), never to someone whose role holds permissions
 * they lack (the server refuses that too). Their own row offers "Leave".
 */
export function MembersTable({
  rows,
  myUserId,
  onChangeRole,
  onRemove,
  onLeave,
}: {
  readonly rows: readonly Member[];
  readonly myUserId: string | undefined;
  readonly onChangeRole: (m: Member) => void;
  readonly onRemove: (m: Member) => void;
  readonly onLeave: () => void;
}) {
  const { org, can } = useOrg();
  const roles = useRoles(org.slug);
  const roleName = useRoleName(org.slug);
  const permissionsOf = (key: string) => roles.data?.data.find((r) => r.key === key)?.permissions ?? [];
  const outranks = (m: Member) => permissionsOf(m.role).some((p) => !can(p as Permission));
  return (
    <Table.ScrollContainer minWidth={320}>
      <Table striped>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Email</Table.Th>
            <Table.Th>Role</Table.Th>
            <Table.Th className="hide-narrow">Status</Table.Th>
            <Table.Th className="hide-narrow">Member since</Table.Th>
            <Table.Th>
              <span className="visually-hidden">Actions</span>
            </Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((m) => {
            const self = m.userId === myUserId;
            const above = !self && outranks(m);
            return (
              <Table.Tr key={m.userId}>
                <Table.Td>
                  <Text size="sm" className="break-anywhere">
                    {m.email}
                    {self ? (
                      <Text span size="xs" c="dimmed">
                        {' '}
                        (you)
                      </Text>
                    ) : null}
                  </Text>
                  <div className="member-status-narrow">
                    <StatusBadge status={m.status} />
                  </div>
                </Table.Td>
                <Table.Td>{roleName(m.role)}</Table.Td>
                <Table.Td className="hide-narrow">
                  <StatusBadge status={m.status} />
                </Table.Td>
                <Table.Td className="hide-narrow">{new Date(m.createdAt).toLocaleDateString()}</Table.Td>
                <Table.Td>
                  <Group gap="xs" justify="flex-end" wrap="wrap">
                    {above && (can('members:update_role') || can('members:remove')) ? (
                      <Text size="xs" c="dimmed">
                        Role above yours
                      </Text>
                    ) : null}
                    {can('members:update_role') && !above ? (
                      <Button
                        size="compact-sm"
                        variant="subtle"
                        aria-label={`Change role of ${m.email}`}
                        onClick={() => onChangeRole(m)}
                      >
                        Change role
                      </Button>
                    ) : null}
                    {self ? (
                      <Button size="compact-sm" variant="subtle" color="red" onClick={onLeave}>
                        Leave
                      </Button>
                    ) : can('members:remove') && !above ? (
                      <Button
                        size="compact-sm"
                        variant="subtle"
                        color="red"
                        aria-label={`Remove ${m.email}`}
                        onClick={() => onRemove(m)}
                      >
                        Remove
                      </Button>
                    ) : null}
                  </Group>
                </Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

function StatusBadge({ status }: { readonly status: Member['status'] }) {
  return (
    <Badge variant="dot" color={status === 'active' ? 'green' : 'gray'}>
      {status === 'pending' ? 'invited' : status}
    </Badge>
  );
}
