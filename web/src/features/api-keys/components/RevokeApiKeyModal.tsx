import type { Schemas } from '../../../api/client';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { notifySuccess } from '../../../components/notify';
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
  return (
    <ConfirmDialog
      opened={apiKey !== null}
      onClose={onClose}
      title="Revoke API key"
      confirmLabel="Revoke key"
      mutation={revoke}
      onConfirm={(close) =>
        apiKey &&
        revoke.mutate(apiKey.id, {
          onSuccess: () => {
            notifySuccess(`API key “${apiKey.name}” revoked`);
            close();
          },
        })
      }
    >
      Revoke <strong>{apiKey?.name}</strong> (<code>srk_{apiKey?.keyId}_…</code>)? Every program using it is
      refused (401) from its next request. This cannot be undone.
    </ConfirmDialog>
  );
}
