import { useState } from 'react';
import { Alert, Badge, Button, Group, Modal, Stack, Text, Title } from '@mantine/core';
import type { Schemas } from '../../../api/client';
import { describeError } from '../../../api/errors';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { ListTable } from '../../../components/ListTable';
import { EmptyState } from '../../../components/QueryState';
import { notifySuccess } from '../../../components/notify';
import { loadedRows } from '../../../lib/paging';
import { useOrg } from '../../organizations/components/org-context';
import { useCreateWebhookEndpoint } from '../api/createWebhookEndpoint';
import { useDeleteWebhookEndpoint } from '../api/deleteWebhookEndpoint';
import { useWebhookEndpoints } from '../api/listWebhookEndpoints';
import { useWebhookEventTypes } from '../api/listWebhookEventTypes';
import { useRotateWebhookSecret } from '../api/rotateWebhookSecret';
import { useUpdateWebhookEndpoint } from '../api/updateWebhookEndpoint';
import { DeliveriesPanel } from '../components/DeliveriesPanel';
import { EndpointForm } from '../components/EndpointForm';
import { WebhookSecretModal } from '../components/WebhookSecretModal';

type Endpoint = Schemas['WebhookEndpoint'];

/**
 * Organization settings → Webhooks (`webhooks:manage`): endpoints (create with the secret shown once,
 * edit the filter, enable/disable, rotate the secret, delete) and each one's delivery log with redelivery.
 */
export default function WebhooksPage() {
  const { can } = useOrg();
  return (
    <Stack gap="md">
      {can('webhooks:manage') ? (
        <Webhooks />
      ) : (
        <>
          <Title order={1} size="h2">
            Webhooks
          </Title>
          <Alert color="gray" title="Your role cannot manage webhooks" role="alert">
            <Text size="sm">
              Managing webhooks needs the webhooks:manage permission. Ask an owner or admin of this
              organization.
            </Text>
          </Alert>
        </>
      )}
    </Stack>
  );
}

function statusOf(e: Endpoint): { label: string; color: string } {
  if (e.enabled)
    return e.failingSince ? { label: 'failing', color: 'orange' } : { label: 'enabled', color: 'green' };
  return e.disabledReason === 'failing'
    ? { label: 'disabled: kept failing', color: 'red' }
    : { label: 'disabled', color: 'gray' };
}

function Webhooks() {
  const { org } = useOrg();
  const endpoints = useWebhookEndpoints(org.slug);
  const types = useWebhookEventTypes(org.slug);
  const update = useUpdateWebhookEndpoint(org.slug);
  const rotate = useRotateWebhookSecret(org.slug);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<Endpoint | null>(null);
  const [deleting, setDeleting] = useState<Endpoint | null>(null);
  const [shown, setShown] = useState<{ url: string; secret: string | null } | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const rows = loadedRows(endpoints);
  const open = rows.find((r) => r.id === selected) ?? null;
  const catalogue = types.data?.data ?? [];
  return (
    <>
      <Group justify="space-between">
        <Title order={1} size="h2">
          Webhooks
        </Title>
        <Button onClick={() => setCreating(true)} disabled={!types.data}>
          New endpoint
        </Button>
      </Group>
      <Text size="sm" c="dimmed">
        Your systems hear about changes in this organization (members, invitations, API keys, the organization
        itself) as signed HTTPS POSTs (Standard Webhooks). Failed deliveries are retried for about a day.
      </Text>
      {update.error || rotate.error ? (
        <Text size="sm" c="red" role="alert">
          {describeError(update.error ?? rotate.error)}
        </Text>
      ) : null}
      <ListTable
        query={endpoints}
        what="webhook endpoints"
        empty={
          <EmptyState title="No webhook endpoints yet">
            <Button variant="light" onClick={() => setCreating(true)} disabled={!types.data}>
              Add the first endpoint
            </Button>
          </EmptyState>
        }
        striped
        verticalSpacing="sm"
        rowKey={(e) => e.id}
        columns={[
          {
            header: 'Endpoint',
            cell: (e) => (
              <>
                <Text size="sm" fw={500} className="break-anywhere">
                  {e.url}
                </Text>
                {e.description ? (
                  <Text size="xs" c="dimmed" className="break-anywhere">
                    {e.description}
                  </Text>
                ) : null}
              </>
            ),
          },
          {
            header: 'Events',
            wide: true,
            cell: (e) => (
              <Group gap={4} maw={260}>
                {e.eventTypes.map((t) => (
                  <Badge key={t} variant="light" color="gray" tt="none">
                    {t}
                  </Badge>
                ))}
              </Group>
            ),
          },
          {
            header: 'Status',
            cell: (e) => {
              const s = statusOf(e);
              return (
                <Badge variant="light" color={s.color} tt="none">
                  {s.label}
                </Badge>
              );
            },
          },
        ]}
        actions={(e) => (
          <Group gap={4} wrap="wrap">
            <Button
              size="compact-sm"
              variant="subtle"
              aria-label={`Deliveries of ${e.url}`}
              aria-pressed={selected === e.id}
              onClick={() => setSelected(selected === e.id ? null : e.id)}
            >
              Deliveries
            </Button>
            <Button
              size="compact-sm"
              variant="subtle"
              aria-label={`Edit ${e.url}`}
              onClick={() => setEditing(e)}
            >
              Edit
            </Button>
            <Button
              size="compact-sm"
              variant="subtle"
              aria-label={`${e.enabled ? 'Disable' : 'Enable'} ${e.url}`}
              loading={update.isPending && update.variables.id === e.id}
              onClick={() =>
                update.mutate(
                  { id: e.id, enabled: !e.enabled },
                  {
                    onSuccess: () => notifySuccess(e.enabled ? 'Endpoint disabled' : 'Endpoint enabled'),
                  },
                )
              }
            >
              {e.enabled ? 'Disable' : 'Enable'}
            </Button>
            <Button
              size="compact-sm"
              variant="subtle"
              aria-label={`Rotate secret of ${e.url}`}
              loading={rotate.isPending && rotate.variables === e.id}
              onClick={() =>
                rotate.mutate(e.id, {
                  onSuccess: (r) => {
                    rotate.reset();
                    setShown({ url: e.url, secret: r.secret });
                  },
                })
              }
            >
              Rotate secret
            </Button>
            <Button
              size="compact-sm"
              variant="subtle"
              color="red"
              aria-label={`Delete ${e.url}`}
              onClick={() => setDeleting(e)}
            >
              Delete
            </Button>
          </Group>
        )}
      />
      {open ? <DeliveriesPanel org={org.slug} endpoint={open} /> : null}
      <CreateEndpointModal
        open={creating}
        eventTypes={catalogue}
        onClose={() => setCreating(false)}
        onCreated={(url, secret) => {
          setCreating(false);
          setShown({ url, secret });
        }}
      />
      <EditEndpointModal endpoint={editing} eventTypes={catalogue} onClose={() => setEditing(null)} />
      <WebhookSecretModal shown={shown} onClose={() => setShown(null)} />
      <DeleteEndpointDialog endpoint={deleting} onClose={() => setDeleting(null)} />
    </>
  );
}

function CreateEndpointModal({
  open,
  eventTypes,
  onClose,
  onCreated,
}: {
  readonly open: boolean;
  readonly eventTypes: readonly string[];
  readonly onClose: () => void;
  readonly onCreated: (url: string, secret: string | null) => void;
}) {
  const { org } = useOrg();
  const create = useCreateWebhookEndpoint(org.slug);
  const close = () => {
    create.reset();
    onClose();
  };
  return (
    <Modal opened={open} onClose={close} title="New webhook endpoint" size="lg">
      <EndpointForm
        key={String(open)}
        eventTypes={eventTypes}
        submitLabel="Create endpoint"
        pending={create.isPending}
        error={create.error}
        onCancel={close}
        onSubmit={(input) =>
          create.mutate(input, {
            onSuccess: (created) => {
              create.reset();
              onCreated(created.url, created.secret);
            },
          })
        }
      />
    </Modal>
  );
}

function EditEndpointModal({
  endpoint,
  eventTypes,
  onClose,
}: {
  readonly endpoint: Endpoint | null;
  readonly eventTypes: readonly string[];
  readonly onClose: () => void;
}) {
  const { org } = useOrg();
  const update = useUpdateWebhookEndpoint(org.slug);
  const close = () => {
    update.reset();
    onClose();
  };
  return (
    <Modal opened={endpoint !== null} onClose={close} title="Edit webhook endpoint" size="lg">
      {endpoint ? (
        <EndpointForm
          key={endpoint.id}
          initial={{ url: endpoint.url, eventTypes: endpoint.eventTypes, description: endpoint.description }}
          eventTypes={eventTypes}
          submitLabel="Save"
          pending={update.isPending}
          error={update.error}
          onCancel={close}
          onSubmit={({ idempotencyKey: _, ...input }) =>
            update.mutate(
              { id: endpoint.id, ...input },
              {
                onSuccess: () => {
                  notifySuccess('Endpoint saved');
                  close();
                },
              },
            )
          }
        />
      ) : null}
    </Modal>
  );
}

function DeleteEndpointDialog({
  endpoint,
  onClose,
}: {
  readonly endpoint: Endpoint | null;
  readonly onClose: () => void;
}) {
  const { org } = useOrg();
  const remove = useDeleteWebhookEndpoint(org.slug);
  return (
    <ConfirmDialog
      opened={endpoint !== null}
      title="Delete this webhook endpoint?"
      confirmLabel="Delete endpoint"
      mutation={remove}
      onClose={onClose}
      onConfirm={(close) =>
        endpoint &&
        remove.mutate(endpoint.id, {
          onSuccess: () => {
            notifySuccess('Endpoint deleted');
            close();
          },
        })
      }
    >
      {endpoint?.url} stops receiving events at once, and its delivery log is deleted with it.
    </ConfirmDialog>
  );
}
