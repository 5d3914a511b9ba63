import { Badge, Button, Stack, Table, Text, Title } from '@mantine/core';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { useOrg } from '../../organizations/components/org-context';
import { useMembers } from '../api/listMembers';

/** Members of the organization with their role and status (cursor paging). */
export default function MembersPage() {
  const { org, can } = useOrg();
  const members = useMembers(org.slug);
  const rows = members.data?.pages.flatMap((p) => p.data) ?? [];
  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Members
      </Title>
      {!can('members:read') ? (
        <Text size="sm" c="dimmed">
          Your role cannot see the members of this organization.
        </Text>
      ) : (
        <QueryState
          query={members}
          what="members"
          isEmpty={() => rows.length === 0}
          empty={<EmptyState title="No members" />}
        >
          {() => (
            <>
              <Table.ScrollContainer minWidth={320}>
                <Table striped>
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Email</Table.Th>
                      <Table.Th>Role</Table.Th>
                      <Table.Th>Status</Table.Th>
                      <Table.Th className="hide-narrow">Member since</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {rows.map((m) => (
                      <Table.Tr key={m.userId}>
                        <Table.Td>
                          <Text size="sm" className="break-anywhere">
                            {m.email}
                          </Text>
                        </Table.Td>
                        <Table.Td>{m.role}</Table.Td>
                        <Table.Td>
                          <Badge variant="dot" color={m.status === 'active' ? 'green' : 'gray'}>
                            {m.status}
                          </Badge>
                        </Table.Td>
                        <Table.Td className="hide-narrow">
                          {new Date(m.createdAt).toLocaleDateString()}
                        </Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
              {members.hasNextPage ? (
                <Button
                  variant="default"
                  loading={members.isFetchingNextPage}
                  onClick={() => void members.fetchNextPage()}
                >
                  Load more
                </Button>
              ) : null}
            </>
          )}
        </QueryState>
      )}
    </Stack>
  );
}
