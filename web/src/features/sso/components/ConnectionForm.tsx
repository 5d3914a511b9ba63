import { useState, type FormEvent } from 'react';
import { Button, Group, SegmentedControl, Stack, Switch, Text, TextInput } from '@mantine/core';
import { FormError, fieldErrorsOf } from '../../../components/FormError';
import { notifySuccess } from '../../../components/notify';
import { RoleSelect } from '../../members/components/RoleSelect';
import { useCreateSsoConnection } from '../api/createSsoConnection';
import { useUpdateSsoConnection } from '../api/updateSsoConnection';
import {
  createBody,
  draftOf,
  emptyDraft,
  updateBody,
  validateDraft,
  type Connection,
  type ConnectionDraft,
} from './connection-draft';
import { OidcFields, SamlFields } from './ProtocolFields';
import { RoleMappingsField } from './RoleMappingsField';

/** The fields whose errors are drawn next to them (any other error is drawn above the form). */
const FIELDS = [
  'name',
  'defaultRole',
  'issuer',
  'clientId',
  'clientSecret',
  'scopes',
  'groupsClaim',
  'metadataUrl',
  'idpMetadataUrl',
  'idpMetadataXml',
  'groupsAttribute',
  'emailAttribute',
];

/**
 * A new OIDC or SAML connection, or an existing one edited (`connection`; its protocol is fixed). The
 * client secret is sent, never shown: left blank while editing, the stored one is kept. `trustLocked`
 * (a member who is not an owner, editing): what names the IdP and how its word is checked, and enabling
 * an inactive connection, are shown but not editable (the server answers 403 SSO_OWNER_REQUIRED).
 */
export function ConnectionForm({
  org,
  connection = null,
  trustLocked = false,
  onDone,
}: {
  readonly org: string;
  readonly connection?: Connection | null;
  readonly trustLocked?: boolean;
  readonly onDone: () => void;
}) {
  const create = useCreateSsoConnection(org);
  const update = useUpdateSsoConnection(org);
  const mutation = connection ? update : create;
  const [draft, setDraft] = useState<ConnectionDraft>(() =>
    connection ? draftOf(connection) : emptyDraft(),
  );
  const [tried, setTried] = useState(false);
  const set = (patch: Partial<ConnectionDraft>) => setDraft((d) => ({ ...d, ...patch }));
  const local = tried ? validateDraft(draft, connection) : {};
  const server = fieldErrorsOf(mutation.error, {});
  if (server.idpMetadataUrl) server.metadataUrl ??= server.idpMetadataUrl;
  const errors = { ...server, ...local };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setTried(true);
    if (Object.keys(validateDraft(draft, connection)).length) return;
    const name = draft.name.trim();
    if (!connection) {
      create.mutate(createBody(draft), {
        onSuccess: () => {
          notifySuccess(`Connection “${name}” created`);
          onDone();
        },
      });
      return;
    }
    const body = updateBody(draft, connection);
    if (Object.keys(body).length === 0) {
      onDone();
      return;
    }
    update.mutate(
      { id: connection.id, body },
      {
        onSuccess: () => {
          notifySuccess(`Connection “${name}” saved`);
          onDone();
        },
      },
    );
  };
  return (
    <form onSubmit={submit} noValidate>
      <Stack gap="sm">
        <FormError error={mutation.error} fields={FIELDS} fieldErrors={server} />
        {connection ? (
          <Text size="sm">Protocol: {connection.kind === 'oidc' ? 'OpenID Connect' : 'SAML 2.0'}</Text>
        ) : (
          <SegmentedControl
            aria-label="Protocol"
            value={draft.kind}
            onChange={(v) => set({ kind: v === 'saml' ? 'saml' : 'oidc' })}
            data={[
              { value: 'oidc', label: 'OpenID Connect' },
              { value: 'saml', label: 'SAML 2.0' },
            ]}
          />
        )}
        <TextInput
          label="Name"
          required
          maxLength={200}
          value={draft.name}
          onChange={(e) => set({ name: e.currentTarget.value })}
          error={errors.name}
        />
        <RoleSelect
          label="Default role"
          description="The role of people no group mapping matches (never owner)."
          value={draft.defaultRole}
          onChange={(defaultRole) => set({ defaultRole })}
          error={errors.defaultRole}
          exclude={['owner']}
        />
        <Switch
          label="Active (deactivating signs out everyone it signed in)"
          checked={draft.active}
          disabled={trustLocked && connection?.status !== 'active'}
          onChange={(e) => set({ active: e.currentTarget.checked })}
        />
        {draft.kind === 'oidc' ? (
          <OidcFields
            draft={draft}
            set={set}
            errors={errors}
            editing={connection !== null}
            locked={trustLocked}
          />
        ) : (
          <SamlFields
            draft={draft}
            set={set}
            errors={errors}
            editing={connection !== null}
            locked={trustLocked}
          />
        )}
        <RoleMappingsField
          value={draft.roleMappings}
          onChange={(roleMappings) => set({ roleMappings })}
          errors={errors}
        />
        <Group justify="flex-end" gap="sm">
          <Button variant="default" onClick={onDone}>
            Cancel
          </Button>
          <Button type="submit" loading={mutation.isPending}>
            {connection ? 'Save changes' : 'Create connection'}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
