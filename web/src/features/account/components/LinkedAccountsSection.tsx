import { useState } from 'react';
import { Button, Group, Stack, Text } from '@mantine/core';
import type { Schemas } from '../../../api/client';
import { ListTable } from '../../../components/ListTable';
import { EmptyState } from '../../../components/QueryState';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { useLinkedIdentities } from '../api/listLinkedIdentities';
import { useUnlinkIdentity } from '../api/unlinkIdentity';
import { AccountSection } from './AccountSection';

type Identity = Schemas['LinkedIdentity'];

const when = (iso: string) => new Date(iso).toLocaleString();

/** The provider accounts (Google, GitHub, …) the user signs in with, each unlinkable after confirmation. */
export function LinkedAccountsSection() {
  const identities = useLinkedIdentities();
  const [unlinking, setUnlinking] = useState<Identity | null>(null);
  return (
    <AccountSection
      id="linked-accounts"
      title="Linked accounts"
      description="Accounts at other providers you sign in with."
    >
      <ListTable
        query={identities}
        what="your linked accounts"
        empty={<EmptyState title="No linked accounts" />}
        striped
        rowKey={(i) => i.id}
        columns={[
          {
            header: 'Provider',
            cell: (i) => (
              <Stack gap={2}>
                <Text size="sm" fw={500}>
                  {i.providerLabel}
                </Text>
                {i.email ? (
                  <Text size="xs" c="dimmed" className="break-anywhere">
                    {i.email}
                  </Text>
                ) : null}
              </Stack>
            ),
          },
          { header: 'Last used', wide: true, cell: (i) => when(i.lastUsedAt) },
        ]}
        actions={(i) => (
          <Group justify="flex-end" wrap="nowrap">
            <Button
              size="compact-sm"
              variant="subtle"
              color="red"
              aria-label={`Unlink ${i.providerLabel}${i.email ? ` (${i.email})` : ''}`}
              onClick={() => setUnlinking(i)}
            >
              Unlink
            </Button>
          </Group>
        )}
      />
      <UnlinkModal identity={unlinking} onClose={() => setUnlinking(null)} />
    </AccountSection>
  );
}

function UnlinkModal({
  identity,
  onClose,
}: {
  readonly identity: Identity | null;
  readonly onClose: () => void;
}) {
  const unlink = useUnlinkIdentity();
  return (
    <ConfirmDialog
      opened={identity !== null}
      onClose={onClose}
      title="Unlink an account"
      confirmLabel="Unlink"
      mutation={unlink}
      onConfirm={(close) => identity && unlink.mutate(identity.id, { onSuccess: close })}
    >
      You will no longer be able to sign in with <strong>{identity?.providerLabel}</strong>
      {identity?.email ? ` (${identity.email})` : ''}. It cannot be unlinked if it is your only way to sign
      in: set a password first (Forgot your password? on the sign-in page mails a link).
    </ConfirmDialog>
  );
}
