import { Button, Group, Modal, Stack, Text } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import type { Schemas } from '../../../api/client';
import { describeError } from '../../../api/errors';
import { useRevokeApiKey } from '../api/revokeApiKey';

type ApiKey = Schemas['ApiKey'];

/** Revoking a key, after confirmation: programs using it are refused from their next request. */
export function RevokeApiKeyModal({
  org,
  apiKey,
  onClose,
}: {
  readonly org: string;
  readonly apiKey: ApiKey | null;
  readonly onClose: () => void;
}) {
  const revoke = useRevokeApiKey(org);
  const close = () => {
    revoke.reset();
    onClose();
  };
  return (
    <Modal opened={apiKey !== null} onClose={close} title="Revoke API key">
      <Stack gap="sm">
        <Text size="sm">
          Revoke <strong>{apiKey?.name}</strong> (<code>srk_{apiKey?.keyId}_…</code>)? Every program using it
          is refused (401) from its next request. This cannot be undone.
        </Text>
        {revoke.error ? (
          <Text size="sm" c="red" role="alert">
            {describeError(revoke.error)}
          </Text>
        ) : null}
        <Group justify="flex-end" gap="sm">
          <Button variant="default" onClick={close}>
            Cancel
          </Button>
          <Button
            color="red"
            loading={revoke.isPending}
            onClick={() =>
              apiKey &&
              revoke.mutate(apiKey.id, {
                onSuccess: () => {
                  notifications.show({
                    message: `API key “${apiKey.name}” revoked`,
                    color: 'green',
                    closeButtonProps: { 'aria-label': 'Close notification' },
                  });
                  close();
                },
              })
            }
          >
            Revoke key
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
