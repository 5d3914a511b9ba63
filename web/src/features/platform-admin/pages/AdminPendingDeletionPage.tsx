import { useState } from 'react';
import { Alert, Badge, Button, Group, Modal, Stack, Text, TextInput, Title } from '@mantine/core';
import { describeError, isApiError } from '../../../api/errors';
import { ListTable } from '../../../components/ListTable';
import { EmptyState } from '../../../components/QueryState';
import { notifySuccess } from '../../../components/notify';
import { useExpediteOrganizationDeletion } from '../api/expediteOrganizationDeletion';
import {
  useOrganizationsPendingDeletion,
  type PendingDeletionOrganization,
} from '../api/listOrganizationsPendingDeletion';
import { AdminNotFound, AdminOnly, isRefusal } from '../components/AdminOnly';

const when = (iso: string) =>
  new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** Organizations scheduled for deletion, soonest due first, with the expedite. */
export default function AdminPendingDeletionPage() {
  return (
    <AdminOnly>
      <PendingDeletion />
    </AdminOnly>
  );
}

function PendingDeletion() {
  const orgs = useOrganizationsPendingDeletion();
  const [expediting, setExpediting] = useState<PendingDeletionOrganization | null>(null);
  if (isRefusal(orgs.error)) return <AdminNotFound />;
  return (
    <Stack gap="md">
      <Title order={1} size="h2">
        Pending deletion
      </Title>
      <Text size="sm" c="dimmed">
        Organizations whose owners scheduled their deletion. Each is read-only until it is due; then the
        deletion job deletes it with all its data and destroys its keys.
      </Text>
      <ListTable
        query={orgs}
        what="organizations pending deletion"
        empty={<EmptyState title="No organization is scheduled for deletion" />}
        minWidth={480}
        striped
        rowKey={(o) => o.id}
        columns={[
          {
            header: 'Organization',
            cell: (o) => (
              <>
                <Text size="sm" fw={500} className="break-anywhere">
                  {o.name}
                </Text>
                <Text size="xs" c="dimmed" className="break-anywhere">
                  {o.slug}
                  {o.personal ? ' · personal' : ''}
                </Text>
              </>
            ),
          },
          {
            header: 'Due',
            cell: (o) =>
              o.state === 'deleting' ? (
                <Badge variant="dot" color="red">
                  Being deleted
                </Badge>
              ) : (
                <Text size="sm">{when(o.deletionDueAt)}</Text>
              ),
          },
          {
            header: 'Requested',
            wide: true,
            cell: (o) => <Text size="sm">{when(o.deletionRequestedAt)}</Text>,
          },
          { header: 'Members', wide: true, cell: (o) => o.members },
        ]}
        actions={(o) =>
          o.state === 'pending_deletion' ? (
            <Group justify="flex-end" wrap="nowrap">
              <Button
                size="compact-sm"
                variant="subtle"
                color="red"
                aria-label={`Expedite the deletion of ${o.name}`}
                onClick={() => setExpediting(o)}
              >
                Expedite
              </Button>
            </Group>
          ) : null
        }
      />
      <ExpediteModal org={expediting} onClose={() => setExpediting(null)} />
    </Stack>
  );
}

/** Making a pending deletion due now, confirmed by typing the organization's slug. */
function ExpediteModal({
  org,
  onClose,
}: {
  readonly org: PendingDeletionOrganization | null;
  readonly onClose: () => void;
}) {
  const expedite = useExpediteOrganizationDeletion();
  const [typed, setTyped] = useState('');
  const close = () => {
    expedite.reset();
    setTyped('');
    onClose();
  };
  const mismatch = isApiError(expedite.error, 400);
  return (
    <Modal opened={org !== null} onClose={close} title="Expedite the deletion">
      {org ? (
        <form
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            if (typed.trim() !== org.slug) return;
            expedite.mutate(
              { id: org.id, confirmSlug: typed.trim() },
              {
                onSuccess: () => {
                  notifySuccess(`${org.name} will be deleted within minutes`);
                  close();
                },
              },
            );
          }}
        >
          <Stack gap="sm">
            <Text size="sm">
              <strong>{org.name}</strong> is due for deletion on {when(org.deletionDueAt)}. Expediting makes
              it due now: within minutes it is deleted with all its data, its owners can no longer cancel, and
              nothing can bring it back. The expedite is recorded in the platform audit log.
            </Text>
            <TextInput
              label={`Type ${org.slug} to confirm`}
              value={typed}
              onChange={(e) => setTyped(e.currentTarget.value)}
              autoComplete="off"
              data-autofocus
              error={
                mismatch
                  ? 'That is not the slug of this organization'
                  : typed.length > 0 && typed.trim() !== org.slug
                    ? `Type exactly ${org.slug}`
                    : undefined
              }
            />
            {expedite.error && !mismatch ? (
              <Alert color="red" role="alert" title="The deletion was not expedited">
                {describeError(expedite.error)}
              </Alert>
            ) : null}
            <Group justify="flex-end" gap="sm">
              <Button variant="default" onClick={close}>
                Cancel
              </Button>
              <Button
                type="submit"
                color="red"
                disabled={typed.trim() !== org.slug}
                loading={expedite.isPending}
              >
                Expedite the deletion
              </Button>
            </Group>
          </Stack>
        </form>
      ) : null}
    </Modal>
  );
}
