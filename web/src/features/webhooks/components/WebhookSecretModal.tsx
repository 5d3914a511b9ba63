import { Alert, Button, Code, CopyButton, Group, Modal, Stack, Text, TextInput } from '@mantine/core';

/**
 * An endpoint's signing secret, shown once (at creation and rotation): the server keeps it only sealed
 * with the organization's key and never shows it again; the console keeps it in memory while this dialog
 * is open. `secret: null` is the replay of an idempotent creation whose first answer was lost.
 */
export function WebhookSecretModal({
  shown,
  onClose,
}: {
  readonly shown: { readonly url: string; readonly secret: string | null } | null;
  readonly onClose: () => void;
}) {
  return (
    <Modal
      opened={shown !== null}
      onClose={onClose}
      title="Copy the signing secret"
      closeOnClickOutside={false}
      closeOnEscape={false}
      withCloseButton={false}
      size="lg"
    >
      {shown === null ? null : shown.secret === null ? (
        <Stack gap="md">
          <Alert color="yellow" title="The secret cannot be shown" role="alert">
            <Text size="sm">
              The endpoint was created by an earlier attempt whose answer did not reach this page. Rotate its
              secret to get one.
            </Text>
          </Alert>
          <Group justify="flex-end">
            <Button onClick={onClose}>Close</Button>
          </Group>
        </Stack>
      ) : (
        <Stack gap="md">
          <Alert color="yellow" title="This is the only time the secret is shown" role="alert">
            <Text size="sm">
              Your receiver verifies each webhook’s <Code>webhook-signature</Code> header with it (Standard
              Webhooks). If you lose it, rotate it.
            </Text>
          </Alert>
          <Group gap="sm" align="flex-end" wrap="nowrap">
            <TextInput
              label={`Signing secret of ${shown.url}`}
              value={shown.secret}
              readOnly
              onFocus={(e) => e.currentTarget.select()}
              style={{ flex: 1, minWidth: 0 }}
              styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
            />
            <CopyButton value={shown.secret} timeout={3000}>
              {({ copied, copy }) => (
                <Button
                  color={copied ? 'green' : 'blue'}
                  onClick={copy}
                  variant={copied ? 'light' : 'filled'}
                >
                  {copied ? 'Copied' : 'Copy'}
                </Button>
              )}
            </CopyButton>
          </Group>
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              I have copied it
            </Button>
          </Group>
        </Stack>
      )}
    </Modal>
  );
}
