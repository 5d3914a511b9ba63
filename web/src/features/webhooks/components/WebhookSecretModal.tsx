import { Code } from '@mantine/core';
import { SecretOnceModal } from '../../../components/SecretOnceModal';

/**
 * An endpoint's signing secret, shown once (at creation and rotation): the server keeps it only sealed
 * with the organization's key and never shows it again. `secret: null` is the replay of an idempotent
 * creation whose first answer was lost.
 */
export function WebhookSecretModal({
  shown,
  onClose,
}: {
  readonly shown: { readonly url: string; readonly secret: string | null } | null;
  readonly onClose: () => void;
}) {
  return (
    <SecretOnceModal
      opened={shown !== null}
      title="Copy the signing secret"
      noun="secret"
      secret={shown?.secret ?? null}
      label={`Signing secret of ${shown?.url ?? ''}`}
      advice={
        <>
          Your receiver verifies each webhook’s <Code>webhook-signature</Code> header with it (Standard
          Webhooks). If you lose it, rotate it.
        </>
      }
      lost={
        <>
          The endpoint was created by an earlier attempt whose answer did not reach this page. Rotate its
          secret to get one.
        </>
      }
      onClose={onClose}
    />
  );
}
