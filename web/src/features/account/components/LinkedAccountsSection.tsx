import { useState } from 'react';
import { Button, Group, Stack, Table, Text } from '@mantine/core';
import type { Schemas } from '../../../api/client';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { LoadMore } from '../../../components/LoadMore';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { loadedRows } from '../../../lib/paging';
import { useLinkedIdentities } from '../api/listLinkedIdentities';
import { useUnlinkIdentity } from '../api/unlinkIdentity';
import { AccountSection } from './AccountSection';

type Identity = Schemas['LinkedIdentity'];

const when = (iso: string) => new Date(iso).toLocaleString();

/** The provider accounts (Google, GitHub, …) the user signs in with, each unlinkable after confirmation. */
export function LinkedAccountsSection() {
  const identities = useLinkedIdentities();
  const [unlinking, setUnlinking] = useState<Identity | null>(null);
  const rows = loadedRows(identities);
  return (
    <AccountSection
      id="linked-accounts"
      title="Linked accounts"
      description="Accounts at other providers you sign in with."
    >
      <QueryState
        query={identities}
        what="your linked accounts"
        isEmpty={() => rows.length === 0}
        empty={<EmptyState title="No linked accounts" />}
      >
        {() => (
          <>
            <Table.ScrollContainer minWidth={320}>
              <Table striped>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Provider</Table.Th>
                    <Table.Th className="hide-narrow">Last used</Table.Th>
                    <Table.Th>
                      <span className="visually-hidden">Actions</span>
                    </Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((i) => (
                    <Table.Tr key={i.id}>
                      <Table.Td>
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
                      </Table.Td>
                      <Table.Td className="hide-narrow">{when(i.lastUsedAt)}</Table.Td>
                      <Table.Td>
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
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <LoadMore query={identities} />
          </>
        )}
      </QueryState>
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
