import type { ReactNode } from 'react';
import { Alert, Button, CopyButton, Group, Modal, Stack, Text, TextInput } from '@mantine/core';

/**
 * A secret shown once (a new API key, SCIM token, webhook signing secret): the server does not keep it
 * readable, and the console keeps it in memory only while this dialog is open (never in storage). Closing
 * needs the explicit "I have copied it". `secret: null` is the replay of an idempotent creation whose
 * first answer was lost: the thing exists but its secret cannot be shown, and `lost` says what to do.
 */
export function SecretOnceModal({
  opened,
  title,
  noun,
  secret,
  label,
  advice,
  details,
  lost,
  onClose,
}: {
  readonly opened: boolean;
  /** The dialog's title, which is also its accessible name. */
  readonly title: string;
  /** What the secret is called in the warnings ("key", "token", "secret"). */
  readonly noun: string;
  readonly secret: string | null;
  /** The label of the read-only field that holds it. */
  readonly label: string;
  /** Where to put it and what to do if it is lost (in the warning). */
  readonly advice: ReactNode;
  /** More about it, under the warning. */
  readonly details?: ReactNode;
  /** What to do when it cannot be shown (`secret: null`). */
  readonly lost: ReactNode;
  readonly onClose: () => void;
}) {
  return (
    <Modal
      opened={opened}
      onClose={onClose}
      title={title}
      closeOnClickOutside={false}
      closeOnEscape={false}
      withCloseButton={false}
      size="lg"
    >
      {!opened ? null : secret === null ? (
        <Stack gap="md">
          <Alert color="yellow" title={`The ${noun} cannot be shown`} role="alert">
            <Text size="sm">{lost}</Text>
          </Alert>
          <Group justify="flex-end">
            <Button onClick={onClose}>Close</Button>
          </Group>
        </Stack>
      ) : (
        <Stack gap="md">
          <Alert color="yellow" title={`This is the only time the ${noun} is shown`} role="alert">
            <Text size="sm">{advice}</Text>
          </Alert>
          {details}
          <Group gap="sm" align="flex-end" wrap="nowrap">
            <TextInput
              label={label}
              value={secret}
              readOnly
              onFocus={(e) => e.currentTarget.select()}
              className="break-anywhere"
              style={{ flex: 1, minWidth: 0 }}
              styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }}
            />
            <CopyButton value={secret} timeout={3000}>
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
