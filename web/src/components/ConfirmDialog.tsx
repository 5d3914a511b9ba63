import type { ReactNode } from 'react';
import { Alert, Button, Group, Modal, Stack, Text } from '@mantine/core';
import { describeError } from '../api/errors';

/** What the dialog reads of the mutation it confirms. */
interface ConfirmedMutation {
  readonly isPending: boolean;
  readonly error: unknown;
  readonly reset: () => void;
}

/**
 * A confirmation before a destructive or account-changing action (delete, revoke, remove, suspend…): the
 * message, Cancel and the confirming button, and the mutation's refusal. Closing it (Cancel, Escape, the
 * close button, or `close` after success) also resets the mutation, so the next opening starts clean.
 */
export function ConfirmDialog({
  opened,
  title,
  children,
  confirmLabel,
  confirmColor = 'red',
  mutation,
  onConfirm,
  onClose,
  errorTitle,
  renderError,
}: {
  readonly opened: boolean;
  /** The dialog's title, which is also its accessible name. */
  readonly title: string;
  /** The message: what will happen to what. */
  readonly children: ReactNode;
  readonly confirmLabel: ReactNode;
  readonly confirmColor?: string;
  readonly mutation: ConfirmedMutation;
  /** Runs the mutation; `close` closes the dialog and resets the mutation (call it on success). */
  readonly onConfirm: (close: () => void) => void;
  readonly onClose: () => void;
  /** Draws the refusal as an alert with this title rather than a line of red text. */
  readonly errorTitle?: string;
  /** Draws the refusal in a way of the feature's own (e.g. explaining a rule). */
  readonly renderError?: (error: unknown) => ReactNode;
}) {
  const close = () => {
    mutation.reset();
    onClose();
  };
  const { error } = mutation;
  return (
    <Modal opened={opened} onClose={close} title={title}>
      <Stack gap="sm">
        <Text size="sm" className="break-anywhere">
          {children}
        </Text>
        {!error ? null : renderError ? (
          renderError(error)
        ) : errorTitle ? (
          <Alert color="red" role="alert" title={errorTitle}>
            {describeError(error)}
          </Alert>
        ) : (
          <Text size="sm" c="red" role="alert">
            {describeError(error)}
          </Text>
        )}
        <Group justify="flex-end" gap="sm">
          <Button variant="default" onClick={close}>
            Cancel
          </Button>
          <Button color={confirmColor} loading={mutation.isPending} onClick={() => onConfirm(close)}>
            {confirmLabel}
          </Button>
        </Group>
      </Stack>
    </Modal>
  );
}
