import { useState } from 'react';
import { Badge, Button, Group, Stack, Text } from '@mantine/core';
import type { Schemas } from '../../../api/client';
import { ListTable } from '../../../components/ListTable';
import { EmptyState } from '../../../components/QueryState';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { useSessions } from '../api/listSessions';
import { useRevokeSession } from '../api/revokeSession';
import { AccountSection } from './AccountSection';
import { describeUserAgent } from './user-agent';
import '../account.css';

type Session = Schemas['AuthSession'];

const when = (iso: string) => new Date(iso).toLocaleString();

/** The user's signed-in sessions (this one marked), cursor-paged, each one revocable after confirmation. */
export function SessionsSection() {
  const sessions = useSessions();
  const [revoking, setRevoking] = useState<Session | null>(null);
  return (
    <AccountSection
      id="sessions"
      title="Sessions"
      description="The browsers signed in to your account. Sign out any you do not recognise."
    >
      <ListTable
        query={sessions}
        what="your sessions"
        empty={<EmptyState title="No other sessions" />}
        striped
        rowKey={(s) => s.id}
        columns={[
          {
            header: 'Device',
            cell: (s) => (
              <Stack gap={2}>
                <Group gap="xs" wrap="wrap">
                  <Text size="sm" fw={500}>
                    {describeUserAgent(s.userAgent)}
                  </Text>
                  {s.current ? (
                    <Badge variant="light" color="blue">
                      This session
                    </Badge>
                  ) : null}
                </Group>
                {s.ip ? (
                  <Text size="xs" c="dimmed" className="break-anywhere">
                    {s.ip}
                  </Text>
                ) : null}
                <Text size="xs" c="dimmed" className="show-narrow">
                  Last seen {when(s.lastSeenAt)}
                </Text>
              </Stack>
            ),
          },
          { header: 'Signed in', wide: true, cell: (s) => when(s.createdAt) },
          { header: 'Last seen', wide: true, cell: (s) => when(s.lastSeenAt) },
        ]}
        actions={(s) => (
          <Group justify="flex-end" wrap="nowrap">
            <Button
              size="compact-sm"
              variant="subtle"
              color="red"
              aria-label={
                s.current
                  ? 'Sign out this session'
                  : `Sign out ${describeUserAgent(s.userAgent)}, last seen ${when(s.lastSeenAt)}`
              }
              onClick={() => setRevoking(s)}
            >
              Sign out
            </Button>
          </Group>
        )}
      />
      <RevokeSessionModal session={revoking} onClose={() => setRevoking(null)} />
    </AccountSection>
  );
}

function RevokeSessionModal({
  session,
  onClose,
}: {
  readonly session: Session | null;
  readonly onClose: () => void;
}) {
  const revoke = useRevokeSession();
  return (
    <ConfirmDialog
      opened={session !== null}
      onClose={onClose}
      title="Sign out a session"
      confirmLabel="Sign out"
      mutation={revoke}
      onConfirm={(close) =>
        session && revoke.mutate({ id: session.id, current: session.current }, { onSuccess: close })
      }
    >
      {session?.current ? (
        <>
          This is the session you are using now: you will be signed out of this browser and taken to the
          sign-in page.
        </>
      ) : (
        <>
          Sign out <strong>{describeUserAgent(session?.userAgent ?? null)}</strong>
          {session?.ip ? ` (${session.ip})` : ''}? Whoever uses it will have to sign in again, and the API
          tokens it obtained stop working.
        </>
      )}
    </ConfirmDialog>
  );
}
