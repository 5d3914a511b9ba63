import { Alert, Button, CopyButton, Group, Modal, Stack, Text, TextInput } from '@mantine/core';

/**
 * A new SCIM token's secret, shown once (the server keeps only its hash; the console keeps it in memory
 * only while this dialog is open). Closing needs the explicit "I have copied it".
 */
export function ScimSecretModal({
  secret,
  onClose,
}: {
  readonly secret: string | null | undefined;
  readonly onClose: () => void;
}) {
  return (
    <Modal
      opened={secret !== undefined}
      onClose={onClose}
      title="Copy your new SCIM token"
      closeOnClickOutside={false}
      closeOnEscape={false}
      withCloseButton={false}
      size="lg"
    >
      {secret === null ? (
        <Stack gap="md">
          <Alert color="yellow" title="The token cannot be shown" role="alert">
            <Text size="sm">
              An earlier attempt created the token but its answer did not reach this page, and the server does
              not keep secrets. Revoke it and create another.
            </Text>
          </Alert>
          <Group justify="flex-end">
            <Button onClick={onClose}>Close</Button>
          </Group>
        </Stack>
      ) : (
        <Stack gap="md">
          <Alert color="yellow" title="This is the only time the token is shown" role="alert">
            <Text size="sm">
              Paste it into your identity provider’s provisioning settings (Okta: API token; Entra ID: Secret
              Token). If you lose it, rotate it.
            </Text>
          </Alert>
          <Group gap="sm" align="flex-end" wrap="nowrap">
            <TextInput
              label="SCIM token"
              value={secret ?? ''}
              readOnly
              onFocus={(e) => e.currentTarget.select()}
              style={{ flex: 1, minWidth: 0 }}
              styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
            />
            <CopyButton value={secret ?? ''} timeout={3000}>
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
