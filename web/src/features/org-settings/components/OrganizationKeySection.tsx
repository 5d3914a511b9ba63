import { useState } from 'react';
import { Alert, Badge, Button, Group, Loader, Paper, Stack, Table, Text, Title } from '@mantine/core';
import { describeError } from '../../../api/errors';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { notifySuccess } from '../../../components/notify';
import { useOrg } from '../../organizations/components/org-context';
import { useOrganizationKeys, useRotateOrganizationKey } from '../api/organizationKeys';

const STATE_COLOR = { active: 'green', retired: 'yellow', destroyed: 'gray' } as const;

/**
 * The organization's data key (docs/encryption.md): its versions and states, the re-encryption after a
 * rotation (polled until done), the values it could not open, and — for owners (`org:delete`) — rotating
 * it, after a confirmation.
 */
export function OrganizationKeySection() {
  const { org, can } = useOrg();
  const keys = useOrganizationKeys(org.slug);
  const rotate = useRotateOrganizationKey(org.slug);
  const [confirming, setConfirming] = useState(false);
  const owner = can('org:delete');
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="org-key">
      <Stack gap="sm">
        <Title order={2} size="h4" id="org-key">
          Encryption key
        </Title>
        <Text size="sm">
          Secrets this organization stores (such as webhook signing secrets) are encrypted with a data key of
          its own. Rotating it makes a new version active at once; stored values are then re-encrypted in the
          background and the old version is destroyed when that is done.
        </Text>
        <QueryState
          query={keys}
          what="the encryption key"
          isEmpty={(k) => k.versions.length === 0}
          empty={
            <EmptyState title="No data key yet">
              <Text size="sm" c="dimmed">
                One is created the first time a secret is stored for this organization.
              </Text>
            </EmptyState>
          }
        >
          {(k) => (
            <Stack gap="sm">
              <Table withTableBorder aria-label="Data key versions">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Version</Table.Th>
                    <Table.Th>State</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {[...k.versions].reverse().map((v) => (
                    <Table.Tr key={v.version}>
                      <Table.Td>{v.version}</Table.Td>
                      <Table.Td>
                        <Badge color={STATE_COLOR[v.state]} variant="light">
                          {v.state}
                        </Badge>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
              {k.reencryptionPending ? (
                <Group gap="xs" role="status" aria-live="polite">
                  <Loader size="xs" aria-hidden />
                  <Text size="sm">
                    Re-encrypting stored values under the new version; the old one is kept until that is done.
                  </Text>
                </Group>
              ) : null}
              {k.unreadableValues.count > 0 ? (
                <Alert
                  color="red"
                  role="alert"
                  title={`${k.unreadableValues.count} stored values cannot be read`}
                >
                  <Text size="sm">
                    These values do not open with the key version they name (altered or corrupted), so they
                    were skipped by the re-encryption and stay unreadable. Set them again (for a webhook
                    endpoint: rotate its secret) or delete them.
                  </Text>
                  <Table mt="xs" aria-label="Unreadable values">
                    <Table.Thead>
                      <Table.Tr>
                        <Table.Th>Table</Table.Th>
                        <Table.Th>Column</Table.Th>
                        <Table.Th>Row</Table.Th>
                        <Table.Th>Key version</Table.Th>
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {k.unreadableValues.values.map((v) => (
                        <Table.Tr key={`${v.table}.${v.column}.${v.rowId}`}>
                          <Table.Td>{v.table}</Table.Td>
                          <Table.Td>{v.column}</Table.Td>
                          <Table.Td>{v.rowId}</Table.Td>
                          <Table.Td>{v.keyVersion ?? '—'}</Table.Td>
                        </Table.Tr>
                      ))}
                    </Table.Tbody>
                  </Table>
                </Alert>
              ) : null}
            </Stack>
          )}
        </QueryState>
        {owner ? (
          <Group>
            <Button
              variant="default"
              onClick={() => setConfirming(true)}
              disabled={keys.data?.reencryptionPending === true}
            >
              Rotate the key
            </Button>
          </Group>
        ) : (
          <Text size="sm" c="dimmed">
            Only owners rotate the key.
          </Text>
        )}
        {rotate.error && !confirming ? (
          <Alert color="red" role="alert" title="The key was not rotated">
            <Text size="sm">{describeError(rotate.error)}</Text>
          </Alert>
        ) : null}
      </Stack>
      <ConfirmDialog
        opened={confirming}
        title="Rotate the encryption key"
        confirmLabel="Rotate the key"
        confirmColor="blue"
        mutation={rotate}
        errorTitle="The key was not rotated"
        onClose={() => setConfirming(false)}
        onConfirm={(close) =>
          rotate.mutate(undefined, {
            onSuccess: () => {
              close();
              notifySuccess('The key was rotated; stored values are being re-encrypted.');
            },
          })
        }
      >
        A new version of the organization’s data key becomes active now. Values stored with the current
        version are re-encrypted in the background, after which that version is destroyed. Nothing stops
        working meanwhile.
      </ConfirmDialog>
    </Paper>
  );
}
