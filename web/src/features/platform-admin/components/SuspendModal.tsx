import { Alert, Button, Group, Modal, Stack, Text } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { describeError } from '../../../api/errors';
import type { PlatformOrganization } from '../api/listPlatformOrganizations';
import { useSuspendOrganization } from '../api/suspendOrganization';
import { useUnsuspendOrganization } from '../api/unsuspendOrganization';

/** Suspending or reactivating an organization, confirmed first. */
export function SuspendModal({
  org,
  onClose,
}: {
  readonly org: PlatformOrganization | null;
  readonly onClose: () => void;
}) {
  const suspend = useSuspendOrganization();
  const unsuspend = useUnsuspendOrganization();
  const reactivating = org?.suspendedAt != null;
  const action = reactivating ? unsuspend : suspend;
  const close = () => {
    suspend.reset();
    unsuspend.reset();
    onClose();
  };
  const title = reactivating ? 'Reactivate organization' : 'Suspend organization';
  return (
    <Modal opened={org !== null} onClose={close} title={title}>
      {org ? (
        <Stack gap="sm">
          {reactivating ? (
            <Text size="sm">
              Reactivate <strong>{org.name}</strong>? Its members and API keys work again from their next
              request.
            </Text>
          ) : (
            <Text size="sm">
              Suspend <strong>{org.name}</strong>? From their next request its {org.members} member
              {org.members === 1 ? '' : 's'} and its API keys are refused with “this organization is
              suspended”. Nothing is deleted, and you can reactivate it at any time. The change is recorded in
              the organization’s audit log.
            </Text>
          )}
          {action.error ? (
            <Alert color="red" role="alert" title="That did not work">
              {describeError(action.error)}
            </Alert>
          ) : null}
          <Group justify="flex-end" gap="sm">
            <Button variant="default" onClick={close}>
              Cancel
            </Button>
            <Button
              color={reactivating ? 'blue' : 'red'}
              loading={action.isPending}
              onClick={() =>
                action.mutate(org.id, {
                  onSuccess: () => {
                    notifications.show({
                      message: `${org.name} ${reactivating ? 'reactivated' : 'suspended'}`,
                      color: 'green',
                      closeButtonProps: { 'aria-label': 'Close notification' },
                    });
                    close();
                  },
                })
              }
            >
              {reactivating ? 'Reactivate' : 'Suspend'}
            </Button>
          </Group>
        </Stack>
      ) : null}
    </Modal>
  );
}
