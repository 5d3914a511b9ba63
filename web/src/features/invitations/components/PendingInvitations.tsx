import { useState } from 'react';
import { Alert, Badge, Button, Group, Stack, Table, Text } from '@mantine/core';
import { describeError, isApiError } from '../../../api/errors';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { LoadMore } from '../../../components/LoadMore';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { notifySuccess } from '../../../components/notify';
import { loadedRows } from '../../../lib/paging';
import { useRoleName } from '../../members/components/RoleSelect';
import { useOrg } from '../../organizations/components/org-context';
import { limitMessage } from '../api/limit';
import { useInvitations, type Invitation } from '../api/listInvitations';
import { useResendInvitation } from '../api/resendInvitation';
import { useRevokeInvitation } from '../api/revokeInvitation';

const expired = (inv: Invitation) => new Date(inv.expiresAt).getTime() <= Date.now();

/** Pending invitations with their expiry (cursor paging): resend (a new link) or revoke (confirmed). */
export function PendingInvitations() {
  const { org } = useOrg();
  const invitations = useInvitations(org.slug);
  const resend = useResendInvitation(org.slug);
  const roleName = useRoleName(org.slug);
  const [revoking, setRevoking] = useState<Invitation | null>(null);
  const [resending, setResending] = useState<Invitation | null>(null);
  const rows = loadedRows(invitations);
  const doResend = (inv: Invitation) => {
    setResending(inv);
    resend.mutate(inv.id, {
      onSuccess: () => notifySuccess(`A new invitation mail is on its way to ${inv.email}`),
    });
  };
  return (
    <Stack gap="sm">
      {resend.error && resending ? (
        <Alert
          color={isApiError(resend.error, 429) ? 'yellow' : 'red'}
          role="alert"
          title={isApiError(resend.error, 429) ? 'Invitation limit reached' : 'Could not resend'}
          withCloseButton
          closeButtonLabel="Dismiss"
          onClose={() => resend.reset()}
        >
          <Text size="sm" className="break-anywhere">
            {resending.email}:{' '}
            {isApiError(resend.error, 429) ? limitMessage(resend.error) : describeError(resend.error)}
          </Text>
        </Alert>
      ) : null}
      <QueryState
        query={invitations}
        what="invitations"
        isEmpty={() => rows.length === 0}
        empty={<EmptyState title="No pending invitations" />}
      >
        {() => (
          <>
            <Table.ScrollContainer minWidth={320}>
              <Table striped>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Email</Table.Th>
                    <Table.Th>Role</Table.Th>
                    <Table.Th>Expires</Table.Th>
                    <Table.Th className="hide-narrow">Sent</Table.Th>
                    <Table.Th>
                      <span className="visually-hidden">Actions</span>
                    </Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((inv) => (
                    <Table.Tr key={inv.id}>
                      <Table.Td>
                        <Text size="sm" className="break-anywhere">
                          {inv.email}
                        </Text>
                      </Table.Td>
                      <Table.Td>{roleName(inv.role)}</Table.Td>
                      <Table.Td>
                        {expired(inv) ? (
                          <Badge color="red" variant="light">
                            expired
                          </Badge>
                        ) : (
                          <Text size="sm">{new Date(inv.expiresAt).toLocaleDateString()}</Text>
                        )}
                      </Table.Td>
                      <Table.Td className="hide-narrow">
                        {new Date(inv.createdAt).toLocaleDateString()}
                      </Table.Td>
                      <Table.Td>
                        <Group gap="xs" justify="flex-end" wrap="wrap">
                          <Button
                            size="compact-sm"
                            variant="subtle"
                            aria-label={`Resend the invitation to ${inv.email}`}
                            loading={resend.isPending && resending?.id === inv.id}
                            onClick={() => doResend(inv)}
                          >
                            Resend
                          </Button>
                          <Button
                            size="compact-sm"
                            variant="subtle"
                            color="red"
                            aria-label={`Revoke the invitation to ${inv.email}`}
                            onClick={() => setRevoking(inv)}
                          >
                            Revoke
                          </Button>
                        </Group>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <LoadMore query={invitations} />
          </>
        )}
      </QueryState>
      <RevokeModal invitation={revoking} onClose={() => setRevoking(null)} />
    </Stack>
  );
}

function RevokeModal({
  invitation,
  onClose,
}: {
  readonly invitation: Invitation | null;
  readonly onClose: () => void;
}) {
  const { org } = useOrg();
  const revoke = useRevokeInvitation(org.slug);
  return (
    <ConfirmDialog
      opened={invitation !== null}
      onClose={onClose}
      title="Revoke invitation"
      confirmLabel="Revoke"
      mutation={revoke}
      onConfirm={(close) =>
        invitation &&
        revoke.mutate(invitation.id, {
          onSuccess: () => {
            notifySuccess(`The invitation to ${invitation.email} was revoked`);
            close();
          },
        })
      }
    >
      Revoke the invitation to <strong>{invitation?.email}</strong>? Its link stops working at once.
    </ConfirmDialog>
  );
}
