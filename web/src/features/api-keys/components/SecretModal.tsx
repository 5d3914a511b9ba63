import { Code, Text } from '@mantine/core';
import { SecretOnceModal } from '../../../components/SecretOnceModal';
import type { CreatedApiKey } from '../api/createApiKey';

/** The new key's secret, shown once: the server stores only its hash. */
export function SecretModal({
  created,
  onClose,
}: {
  readonly created: CreatedApiKey | null;
  readonly onClose: () => void;
}) {
  return (
    <SecretOnceModal
      opened={created !== null}
      title="Copy your new API key"
      noun="key"
      secret={created?.secret ?? null}
      label={`API key “${created?.name ?? ''}”`}
      advice={
        <>
          Copy it now and keep it somewhere safe, such as your CI’s secret store. SaaSReady stores only a hash
          of it: if you lose it, revoke it and create another.
        </>
      }
      details={
        <Text size="sm">
          Programs send it as <Code>Authorization: Bearer {'<key>'}</Code>. It acts in this organization with
          the scopes {created?.scopes.join(', ')}.
        </Text>
      }
      lost={
        <>
          The key “{created?.name}” was created by an earlier attempt whose answer did not reach this page,
          and the server does not keep secrets. Revoke it and create another.
        </>
      }
      onClose={onClose}
    />
  );
}
