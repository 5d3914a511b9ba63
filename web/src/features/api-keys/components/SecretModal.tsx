import { Alert, Button, Code, CopyButton, Group, Modal, Stack, Text, TextInput } from '@mantine/core';
import type { CreatedApiKey } from '../api/createApiKey';

/**
 * The new key's secret, shown once: the server stores only its hash, and the console keeps it in memory
 * only while this dialog is open (never in storage). Closing needs the explicit "I have copied it".
 */
export function SecretModal({
  created,
  onClose,
}: {
  readonly created: CreatedApiKey | null;
  readonly onClose: () => void;
}) {
  return (
    <Modal
      opened={created !== null}
      onClose={onClose}
      title="Copy your new API key"
      closeOnClickOutside={false}
      closeOnEscape={false}
      withCloseButton={false}
      size="lg"
    >
      {created ? <SecretBody created={created} onClose={onClose} /> : null}
    </Modal>
  );
}

function SecretBody({ created, onClose }: { readonly created: CreatedApiKey; readonly onClose: () => void }) {
  if (created.secret === null) {
    // A replay of the same Idempotency-Key: the key exists, but its secret was in an answer that was lost.
    return (
      <Stack gap="md">
        <Alert color="yellow" title="The secret cannot be shown" role="alert">
          <Text size="sm">
            The key “{created.name}” was created by an earlier attempt whose answer did not reach this page,
            and the server does not keep secrets. Revoke it and create another.
          </Text>
        </Alert>
        <Group justify="flex-end">
          <Button onClick={onClose}>Close</Button>
        </Group>
      </Stack>
    );
  }
  return (
    <Stack gap="md">
      <Alert color="yellow" title="This is the only time the key is shown" role="alert">
        <Text size="sm">
          Copy it now and keep it somewhere safe, such as your CI’s secret store. SaaSReady stores only a hash
          of it: if you lose it, revoke it and create another.
        </Text>
      </Alert>
      <Text size="sm">
        Programs send it as <Code>Authorization: Bearer {'<key>'}</Code>. It acts in this organization with
        the scopes {created.scopes.join(', ')}.
      </Text>
      <Group gap="sm" align="flex-end" wrap="nowrap">
        <TextInput
          label={`API key “${created.name}”`}
          value={created.secret}
          readOnly
          onFocus={(e) => e.currentTarget.select()}
          className="break-anywhere"
          style={{ flex: 1, minWidth: 0 }}
          styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
        />
        <CopyButton value={created.secret} timeout={3000}>
          {({ copied, copy }) => (
            <Button color={copied ? 'green' : 'blue'} onClick={copy} variant={copied ? 'light' : 'filled'}>
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
  );
}
