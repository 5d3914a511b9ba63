import { useState } from 'react';
import { Button, Group, Stack, Text, Title } from '@mantine/core';
import { Link } from 'react-router';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { LoadMore } from '../../../components/LoadMore';
import { loadedRows } from '../../../lib/paging';
import { useMe } from '../../auth/api/me';
import { useOrg } from '../../organizations/components/org-context';
import { useMembers, type Member } from '../api/listMembers';
import { LeaveModal } from '../components/LeaveModal';
import { ChangeRoleModal, RemoveMemberModal } from '../components/MemberModals';
import { MembersTable } from '../components/MembersTable';
import { TransferOwnershipModal } from '../components/TransferOwnershipModal';

/**
 * Members of the organization with their role and status (cursor paging); change a role, remove a member,
 * leave, and (owners) transfer ownership, as the member's role allows. Refusals carry the rule behind them.
 */
export default function MembersPage() {
  const { org, can } = useOrg();
  const me = useMe();
  const myUserId = me.data?.user.id;
  const members = useMembers(org.slug);
  const [changing, setChanging] = useState<Member | null>(null);
  const [removing, setRemoving] = useState<Member | null>(null);
  const [leaving, setLeaving] = useState(false);
  const [transferring, setTransferring] = useState(false);
  const rows = loadedRows(members);
  return (
    <Stack gap="md">
      <Group justify="space-between" gap="sm">
        <Title order={1} size="h2">
          Members
        </Title>
        <Group gap="xs" wrap="wrap">
          {can('members:invite') ? (
            <Button component={Link} to={`/o/${org.slug}/invitations`} variant="light">
              Invite people
            </Button>
          ) : null}
          {org.role === 'owner' ? (
            <Button variant="default" onClick={() => setTransferring(true)}>
              Transfer ownership
            </Button>
          ) : null}
          <Button variant="default" color="red" onClick={() => setLeaving(true)}>
            Leave organization
          </Button>
        </Group>
      </Group>
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
              <MembersTable
                rows={rows}
                myUserId={myUserId}
                onChangeRole={setChanging}
                onRemove={setRemoving}
                onLeave={() => setLeaving(true)}
              />
              <LoadMore query={members} />
            </>
          )}
        </QueryState>
      )}
      <ChangeRoleModal member={changing} myUserId={myUserId} onClose={() => setChanging(null)} />
      <RemoveMemberModal member={removing} onClose={() => setRemoving(null)} />
      <LeaveModal open={leaving} onClose={() => setLeaving(false)} />
      <TransferOwnershipModal
        open={transferring}
        members={rows}
        myUserId={myUserId}
        onClose={() => setTransferring(false)}
      />
    </Stack>
  );
}
