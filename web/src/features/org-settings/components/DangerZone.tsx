import { useState } from 'react';
import { Alert, Button, Group, List, Modal, Paper, Stack, Text, TextInput, Title } from '@mantine/core';
import { describeError } from '../../../api/errors';
import { notifySuccess } from '../../../components/notify';
import { useRequestOrganizationDeletion } from '../../organizations/api/requestOrganizationDeletion';
import { useOrganization } from '../../organizations/api/getOrganization';
import { useOrg } from '../../organizations/components/org-context';

/** Scheduling the organization's deletion (`org:delete`, the owner's), confirmed by typing its slug. */
export function DangerZone() {
  const { org, can } = useOrg();
  const current = useOrganization(org.slug);
  const [open, setOpen] = useState(false);
  // Once scheduled, the deletion status above says when, and offers the cancel.
  if (!can('org:delete') || current.data?.lifecycleState !== 'active') return null;
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="org-danger">
      <Stack gap="sm" align="flex-start">
        <Title order={2} size="h4" id="org-danger" c="red">
          Danger zone
        </Title>
        <Text size="sm">
          Deleting {org.name} makes it read-only for every member at once, and deletes it with all its data
          for good after a grace period, during which an owner can still cancel.
        </Text>
        <Button color="red" onClick={() => setOpen(true)}>
          Delete organization
        </Button>
      </Stack>
      <DeleteOrganizationModal open={open} onClose={() => setOpen(false)} />
    </Paper>
  );
}

function DeleteOrganizationModal({
  open,
  onClose,
}: {
  readonly open: boolean;
  readonly onClose: () => void;
}) {
  const { org } = useOrg();
  const remove = useRequestOrganizationDeletion(org.slug);
  const [typed, setTyped] = useState('');
  const close = () => {
    remove.reset();
    setTyped('');
    onClose();
  };
  const confirmed = typed.trim() === org.slug;
  return (
    <Modal opened={open} onClose={close} title="Delete organization">
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          if (!confirmed) return;
          remove.mutate(undefined, {
            onSuccess: () => {
              notifySuccess(`${org.name} is scheduled for deletion`);
              close();
            },
          });
        }}
      >
        <Stack gap="sm">
          <Text size="sm">
            Deleting <strong>{org.name}</strong> schedules its deletion. From that moment:
          </Text>
          <List size="sm" spacing={4}>
            <List.Item>it is read-only: members and API keys can read and export, nothing changes;</List.Item>
            <List.Item>every owner is told by mail, with the date of the deletion;</List.Item>
            <List.Item>
              at that date it is deleted with all its data (projects, members, audit log, invoices…) and its
              keys are destroyed: that cannot be undone.
            </List.Item>
          </List>
          <Text size="sm">Until then an owner can cancel it here.</Text>
          <TextInput
            label={`Type ${org.slug} to confirm`}
            value={typed}
            onChange={(e) => setTyped(e.currentTarget.value)}
            autoComplete="off"
            data-autofocus
          />
          {remove.error ? (
            <Alert color="red" role="alert" title="The organization was not deleted">
              {describeError(remove.error)}
            </Alert>
          ) : null}
          <Group justify="flex-end" gap="sm">
            <Button variant="default" onClick={close}>
              Cancel
            </Button>
            <Button type="submit" color="red" disabled={!confirmed} loading={remove.isPending}>
              Schedule the deletion
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
