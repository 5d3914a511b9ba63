import { useState } from 'react';
import { Alert, Button, Group, List, Modal, Paper, Stack, Text, TextInput, Title } from '@mantine/core';
import { useNavigate } from 'react-router';
import { describeError } from '../../../api/errors';
import { notifySuccess } from '../../../components/notify';
import { useRequestOrganizationDeletion } from '../../organizations/api/requestOrganizationDeletion';
import { useOrg } from '../../organizations/components/org-context';

/** Requesting the organization's deletion (`org:delete`, the owner's), confirmed by typing its slug. */
export function DangerZone() {
  const { org, can } = useOrg();
  const [open, setOpen] = useState(false);
  if (!can('org:delete')) return null;
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="org-danger">
      <Stack gap="sm" align="flex-start">
        <Title order={2} size="h4" id="org-danger" c="red">
          Danger zone
        </Title>
        <Text size="sm">
          Deleting {org.name} closes it for every member at once. Neither the console nor the API can undo it.
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
  const navigate = useNavigate();
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
              notifySuccess(`${org.name} is marked for deletion`);
              void navigate('/', { replace: true });
            },
          });
        }}
      >
        <Stack gap="sm">
          <Text size="sm">
            Deleting <strong>{org.name}</strong> marks it for deletion. From that moment:
          </Text>
          <List size="sm" spacing={4}>
            <List.Item>
              nobody can open it any more, you included, and it leaves every member’s list;
            </List.Item>
            <List.Item>its API keys and access tokens stop working;</List.Item>
            <List.Item>
              its data (projects, members, audit log…) is kept, closed, until the platform’s operators remove
              it.
            </List.Item>
          </List>
          <Text size="sm">Neither the console nor the API can undo this.</Text>
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
              Delete {org.name}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}
