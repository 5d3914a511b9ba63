import { Checkbox, TextInput, Textarea } from '@mantine/core';
import type { ConnectionDraft } from './connection-draft';

interface FieldsProps {
  readonly draft: ConnectionDraft;
  readonly set: (patch: Partial<ConnectionDraft>) => void;
  readonly errors: Readonly<Record<string, string>>;
  /** Editing an existing connection: the secret and the metadata XML may stay blank (kept). */
  readonly editing: boolean;
  /** The trust fields are an owner's (the member is not one): shown, not editable. */
  readonly locked?: boolean;
}

/** The OpenID Connect settings (the client secret is write-only: never shown, blank keeps it). */
export function OidcFields({ draft, set, errors, editing, locked = false }: FieldsProps) {
  return (
    <>
      <TextInput
        label="Issuer"
        disabled={locked}
        required
        value={draft.issuer}
        onChange={(e) => set({ issuer: e.currentTarget.value })}
        error={errors.issuer}
      />
      <TextInput
        label="Client ID"
        disabled={locked}
        required
        value={draft.clientId}
        onChange={(e) => set({ clientId: e.currentTarget.value })}
        error={errors.clientId}
      />
      <TextInput
        label={editing ? 'New client secret' : 'Client secret'}
        disabled={locked}
        description={editing ? 'Never shown. Leave blank to keep the current secret.' : undefined}
        type="password"
        autoComplete="off"
        maxLength={2000}
        value={draft.clientSecret}
        onChange={(e) => set({ clientSecret: e.currentTarget.value })}
        error={errors.clientSecret}
      />
      <TextInput
        label="Scopes"
        description="Separated by spaces; openid is always requested."
        value={draft.scopes}
        onChange={(e) => set({ scopes: e.currentTarget.value })}
        error={errors.scopes}
      />
      <TextInput
        label="Groups claim"
        maxLength={100}
        value={draft.groupsClaim}
        onChange={(e) => set({ groupsClaim: e.currentTarget.value })}
        error={errors.groupsClaim}
      />
      <Checkbox
        label="Trust the email even without email_verified"
        disabled={locked}
        checked={draft.trustEmail}
        onChange={(e) => set({ trustEmail: e.currentTarget.checked })}
      />
    </>
  );
}

/** The SAML 2.0 settings: the IdP metadata (a URL, or the XML pasted) and the assertion options. */
export function SamlFields({ draft, set, errors, editing, locked = false }: FieldsProps) {
  return (
    <>
      <TextInput
        label="IdP metadata URL"
        disabled={locked}
        description={editing ? 'Changing it fetches the metadata again.' : undefined}
        maxLength={2000}
        value={draft.metadataUrl}
        onChange={(e) => set({ metadataUrl: e.currentTarget.value })}
        error={errors.metadataUrl}
      />
      <Textarea
        label="or IdP metadata XML"
        disabled={locked}
        description={editing ? 'Leave blank to keep the current metadata.' : undefined}
        autosize
        minRows={3}
        maxRows={8}
        value={draft.metadataXml}
        onChange={(e) => set({ metadataXml: e.currentTarget.value })}
        error={errors.idpMetadataXml}
      />
      <TextInput
        label="Groups attribute"
        maxLength={200}
        value={draft.groupsAttribute}
        onChange={(e) => set({ groupsAttribute: e.currentTarget.value })}
        error={errors.groupsAttribute}
      />
      <TextInput
        label="Email attribute (optional)"
        disabled={locked}
        description="The attribute holding the address, for IdPs whose NameID is not the address. Blank: the NameID."
        maxLength={256}
        value={draft.emailAttribute}
        onChange={(e) => set({ emailAttribute: e.currentTarget.value })}
        error={errors.emailAttribute}
      />
      <Checkbox
        label="Require signed assertions"
        disabled={locked}
        checked={draft.wantAssertionsSigned}
        onChange={(e) => set({ wantAssertionsSigned: e.currentTarget.checked })}
      />
      <Checkbox
        label="Require a signed response"
        disabled={locked}
        checked={draft.wantResponseSigned}
        onChange={(e) => set({ wantResponseSigned: e.currentTarget.checked })}
      />
      <Checkbox
        label="Allow IdP-initiated sign-in"
        disabled={locked}
        checked={draft.allowIdpInitiated}
        onChange={(e) => set({ allowIdpInitiated: e.currentTarget.checked })}
      />
    </>
  );
}
