import { SecretOnceModal } from '../../../components/SecretOnceModal';

/** A new SCIM token's secret, shown once (the server keeps only its hash). `undefined`: closed. */
export function ScimSecretModal({
  secret,
  onClose,
}: {
  readonly secret: string | null | undefined;
  readonly onClose: () => void;
}) {
  return (
    <SecretOnceModal
      opened={secret !== undefined}
      title="Copy your new SCIM token"
      noun="token"
      secret={secret ?? null}
      label="SCIM token"
      advice={
        <>
          Paste it into your identity provider’s provisioning settings (Okta: API token; Entra ID: Secret
          Token). If you lose it, rotate it.
        </>
      }
      lost={
        <>
          An earlier attempt created the token but its answer did not reach this page, and the server does not
          keep secrets. Revoke it and create another.
        </>
      }
      onClose={onClose}
    />
  );
}
