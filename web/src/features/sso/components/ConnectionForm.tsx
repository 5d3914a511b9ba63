import { useState, type FormEvent } from 'react';
import { Button, Checkbox, SegmentedControl, Stack, TextInput, Textarea } from '@mantine/core';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { useCreateSsoConnection, type CreateSsoConnectionBody } from '../api/createSsoConnection';

/** A new OIDC or SAML connection (the client secret is sent once and never shown again). */
export function ConnectionForm({ org, onDone }: { readonly org: string; readonly onDone: () => void }) {
  const create = useCreateSsoConnection(org);
  const [kind, setKind] = useState<'oidc' | 'saml'>('oidc');
  const [name, setName] = useState('');
  const [defaultRole, setDefaultRole] = useState('member');
  const [issuer, setIssuer] = useState('');
  const [clientId, setClientId] = useState('');
  const [clientSecret, setClientSecret] = useState('');
  const [groupsClaim, setGroupsClaim] = useState('');
  const [trustEmail, setTrustEmail] = useState(false);
  const [metadataUrl, setMetadataUrl] = useState('');
  const [metadataXml, setMetadataXml] = useState('');
  const errors = fieldErrorsOf(create.error, {});
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const common = { name, defaultRole };
    const body: CreateSsoConnectionBody =
      kind === 'oidc'
        ? {
            kind,
            ...common,
            oidc: {
              issuer,
              clientId,
              ...(clientSecret ? { clientSecret } : {}),
              ...(groupsClaim ? { groupsClaim } : {}),
              trustEmail,
            },
          }
        : {
            kind,
            ...common,
            saml: metadataXml ? { idpMetadataXml: metadataXml } : { idpMetadataUrl: metadataUrl },
          };
    create.mutate(body, { onSuccess: onDone });
  };
  return (
    <form onSubmit={submit} noValidate>
      <Stack gap="sm">
        <FormError error={create.error} fields={[]} fieldErrors={errors} />
        <SegmentedControl
          aria-label="Protocol"
          value={kind}
          onChange={(v) => setKind(v)}
          data={[
            { value: 'oidc', label: 'OpenID Connect' },
            { value: 'saml', label: 'SAML 2.0' },
          ]}
        />
        <TextInput label="Name" required value={name} onChange={(e) => setName(e.currentTarget.value)} />
        <TextInput
          label="Default role"
          description="The role of people no group mapping matches (never owner)."
          value={defaultRole}
          onChange={(e) => setDefaultRole(e.currentTarget.value)}
        />
        {kind === 'oidc' ? (
          <>
            <TextInput
              label="Issuer"
              required
              value={issuer}
              onChange={(e) => setIssuer(e.currentTarget.value)}
            />
            <TextInput
              label="Client ID"
              required
              value={clientId}
              onChange={(e) => setClientId(e.currentTarget.value)}
            />
            <TextInput
              label="Client secret"
              type="password"
              autoComplete="off"
              value={clientSecret}
              onChange={(e) => setClientSecret(e.currentTarget.value)}
            />
            <TextInput
              label="Groups claim"
              value={groupsClaim}
              onChange={(e) => setGroupsClaim(e.currentTarget.value)}
            />
            <Checkbox
              label="Trust the email even without email_verified"
              checked={trustEmail}
              onChange={(e) => setTrustEmail(e.currentTarget.checked)}
            />
          </>
        ) : (
          <>
            <TextInput
              label="IdP metadata URL"
              value={metadataUrl}
              onChange={(e) => setMetadataUrl(e.currentTarget.value)}
            />
            <Textarea
              label="or IdP metadata XML"
              autosize
              minRows={3}
              maxRows={8}
              value={metadataXml}
              onChange={(e) => setMetadataXml(e.currentTarget.value)}
            />
          </>
        )}
        <Button type="submit" loading={create.isPending}>
          Create connection
        </Button>
      </Stack>
    </form>
  );
}
