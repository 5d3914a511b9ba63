import { Stack, Text, Title } from '@mantine/core';
import { useOrg } from '../../organizations/components/org-context';
import { InviteForm } from '../components/InviteForm';
import { PendingInvitations } from '../components/PendingInvitations';

/** Invitations (`members:invite`): send to one or many addresses, and the pending ones to resend or revoke. */
export default function InvitationsPage() {
  const { can } = useOrg();
  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Invitations
      </Title>
      {can('members:invite') ? (
        <>
          <InviteForm />
          <Title order={2} size="h4">
            Pending invitations
          </Title>
          <PendingInvitations />
        </>
      ) : (
        <Text size="sm" c="dimmed">
          Your role cannot invite people to this organization. Ask an owner or an admin.
        </Text>
      )}
    </Stack>
  );
}
